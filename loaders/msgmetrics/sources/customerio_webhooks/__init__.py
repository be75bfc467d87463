"""dlt source for Customer.io reporting-webhook events stored as JSONL files.

Files come from local paths or any bucket URL dlt's filesystem source reads. Each
file is parsed by DuckDB into Arrow tables (the fast path: no per-row Python), good
events are merged on `event_id` (so retried webhooks and reloaded files add
nothing) and bad lines go to a quarantine table with the raw line and a reason.
Which files were read is kept in the resource state, stored with the data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import dlt
import pyarrow as pa

from ..files import list_input_files
from .helpers import parse_webhook_file
from .settings import DEFAULT_FILE_GLOB, EVENTS_TABLE, QUARANTINE_TABLE

log = logging.getLogger(__name__)

# Events from small files are handed to dlt in batches of at least this many rows:
# each yielded table costs dlt a file and a load statement, so many small ones are slow.
BATCH_ROWS = 250_000


@dataclass
class WebhookReadStats:
    """Counts filled in while the resource runs, for the CLI to report."""

    files_read: int = 0
    files_skipped: int = 0
    events_read: int = 0
    unknown_events: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


# Event columns come from the Arrow schema (`data` stays the raw JSON text of the
# `data` object; staging extracts fields). Declaring them on the resource would
# also copy them into the quarantine table variant, so only quarantine gets hints.
QUARANTINE_COLUMNS = {
    "quarantine_id": {"data_type": "text"},
    "source_file": {"data_type": "text"},
    "line_number": {"data_type": "bigint"},
    "raw_line": {"data_type": "text"},
    "reason": {"data_type": "text"},
    "quarantined_at": {"data_type": "timestamp"},
}


@dlt.source(name="customerio_webhooks", max_table_nesting=0)
def customerio_webhooks(
    locations: list[str],
    file_glob: str = DEFAULT_FILE_GLOB,
    reread: bool = False,
    stats: WebhookReadStats | None = None,
):
    """Reporting-webhook JSONL files at `locations` (paths or URLs, files or folders)."""
    return webhook_events(locations, file_glob, reread, stats or WebhookReadStats())


@dlt.resource(
    name=EVENTS_TABLE,
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    primary_key="event_id",
)
def webhook_events(
    locations: list[str], file_glob: str, reread: bool, stats: WebhookReadStats
) -> Iterator:
    files_done: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    loaded_at = datetime.now(timezone.utc).isoformat()
    quarantine_hints = dlt.mark.make_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="quarantine_id",
        columns=QUARANTINE_COLUMNS,
    )
    files = list_input_files(locations, file_glob)
    pending: list[pa.Table] = []
    for number, input_file in enumerate(files, start=1):
        if not reread and files_done.get(input_file.url) == input_file.fingerprint:
            stats.files_skipped += 1
            log.info("[%d/%d] %s unchanged since its last load, skipped", number, len(files), input_file.url)
            continue
        with input_file.local_path() as local_path:
            events, quarantined = parse_webhook_file(local_path, input_file.url, loaded_at)
        stats.files_read += 1
        stats.events_read += events.num_rows
        stats.unknown_events += events.num_rows - sum(events.column("is_known_event").to_pylist())
        stats.quarantined += quarantined.num_rows
        for reason in quarantined.column("reason").to_pylist():
            stats.quarantine_reasons[reason] = stats.quarantine_reasons.get(reason, 0) + 1
        # progress: every file at debug level, every tenth (and the last) at info
        level = logging.INFO if number % 10 == 0 or number == len(files) else logging.DEBUG
        log.log(
            level, "[%d/%d] %s: %d events, %d quarantined",
            number, len(files), input_file.url, events.num_rows, quarantined.num_rows,
        )
        if events.num_rows:
            pending.append(events)
        if sum(t.num_rows for t in pending) >= BATCH_ROWS:
            yield pa.concat_tables(pending)
            pending = []
        if quarantined.num_rows:
            yield dlt.mark.with_hints(quarantined, quarantine_hints, create_table_variant=True)
        # committed with the load package: only when the whole load succeeds
        files_done[input_file.url] = input_file.fingerprint
    if pending:
        yield pa.concat_tables(pending)
