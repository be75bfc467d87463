"""dlt source for Customer.io reporting-webhook events stored as JSONL files.

Files come from local paths or any bucket URL dlt's filesystem source reads. DuckDB
parses groups of files into Arrow record batches (no per-row Python) and keeps the
first copy of each `event_id` (see `event_reader`), so retried webhooks and reloaded
files add nothing; bad lines go to a quarantine table with the raw line and a reason.
Which files were read is kept in the resource state, stored with the data.

Ids already in the destination are skipped in one of two ways:
- `dedup_against_destination=True` (DuckDB destinations; what `msgmetrics load` uses):
  each group's ids are looked up in the destination while reading, and dlt only
  appends. No staging copy and no merge over the whole table.
- otherwise (any destination): the events table is merged `insert-only` on event_id,
  so the destination skips ids it already has.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import dlt
import pyarrow as pa

from ..files import InputFile, list_input_files
from .event_reader import EventReader, StoredIds
from .settings import DEFAULT_FILE_GLOB, EVENTS_TABLE, QUARANTINE_TABLE

log = logging.getLogger(__name__)

# Files are parsed in groups of about this many bytes per DuckDB query (a larger file
# is a group of its own): one query per small file is slow, one for a whole load holds
# too much.
GROUP_BYTES = 768 * 1024 * 1024
# Rows per Arrow record batch handed to dlt.
BATCH_ROWS = 100_000
# Memory the scratch DuckDB may use before it spills to a temporary folder.
READER_MEMORY_LIMIT = "1GB"


@dataclass
class WebhookReadStats:
    """Counts filled in while the resource runs, for the CLI to report."""

    files_read: int = 0
    files_skipped: int = 0
    events_read: int = 0
    events_kept: int = 0
    unknown_events: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


# Event columns come from the Arrow schema (`data` stays the raw JSON text of the
# `data` object; staging extracts fields). Declaring them on the resource would also
# copy them into the quarantine table variant, so only quarantine gets hints.
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
    dedup_against_destination: bool = False,
):
    """Reporting-webhook JSONL files at `locations` (paths or URLs, files or folders)."""
    resource = webhook_events(locations, file_glob, reread, stats or WebhookReadStats(), dedup_against_destination)
    if not dedup_against_destination:
        resource.apply_hints(write_disposition={"disposition": "merge", "strategy": "insert-only"})
    return resource


@dlt.resource(name=EVENTS_TABLE, write_disposition="append", primary_key="event_id")
def webhook_events(
    locations: list[str], file_glob: str, reread: bool, stats: WebhookReadStats, dedup_against_destination: bool,
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
    todo: list[InputFile] = []
    for input_file in files:
        if not reread and files_done.get(input_file.url) == input_file.fingerprint:
            stats.files_skipped += 1
            log.debug("%s unchanged since its last load, skipped", input_file.url)
        else:
            todo.append(input_file)
    if stats.files_skipped:
        log.info("%d of %d file(s) unchanged since their last load, skipped", stats.files_skipped, len(files))
    if not todo:
        return

    with contextlib.ExitStack() as stack:
        stored_ids = stack.enter_context(_destination_lookup()) if dedup_against_destination else None
        reader = stack.enter_context(EventReader(loaded_at, stored_ids, memory_limit=READER_MEMORY_LIMIT))
        done = 0
        for group in _groups(todo):
            with contextlib.ExitStack() as local:
                paths = [local.enter_context(f.local_path()) for f in group]
                counts = reader.scan(paths, [f.url for f in group])
                yield from reader.events(BATCH_ROWS)
                quarantined = reader.quarantined()
            if quarantined.num_rows:
                yield dlt.mark.with_hints(quarantined, quarantine_hints, create_table_variant=True)
            for input_file, c in zip(group, counts):
                done += 1
                stats.files_read += 1
                stats.events_read += c.events
                stats.events_kept += c.kept
                stats.unknown_events += c.unknown
                stats.quarantined += c.quarantined
                for reason, n in c.reasons.items():
                    stats.quarantine_reasons[reason] = stats.quarantine_reasons.get(reason, 0) + n
                # committed with the load package: only when the whole load succeeds
                files_done[input_file.url] = input_file.fingerprint
                log.debug("%s: %d events (%d new), %d quarantined", input_file.url, c.events, c.kept, c.quarantined)
            log.info("[%d/%d files] %s events read, %s new, %s quarantined so far",
                     done, len(todo), f"{stats.events_read:,}", f"{stats.events_kept:,}", f"{stats.quarantined:,}")



def _groups(files: list[InputFile]) -> Iterator[list[InputFile]]:
    group: list[InputFile] = []
    size = 0
    for f in files:
        if group and size + f.size > GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(f)
        size += f.size
    if group:
        yield group


@contextlib.contextmanager
def _destination_lookup() -> Iterator[StoredIds | None]:
    """`StoredIds` answered by the running pipeline's DuckDB destination (None: no events yet)."""
    pipeline = dlt.current.pipeline()
    if pipeline.destination is None or pipeline.destination.destination_name != "duckdb":
        raise ValueError("dedup_against_destination needs a DuckDB destination; leave it off for "
                         f"{pipeline.destination.destination_name if pipeline.destination else 'no destination'} "
                         "(the events table is then merged insert-only)")
    client = pipeline.sql_client()
    with client:
        table = client.make_qualified_table_name(EVENTS_TABLE)
        con = client.native_connection
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [client.dataset_name, EVENTS_TABLE],
        ).fetchone()[0]
        if not exists:
            yield None
            return

        def stored(ids: pa.Table) -> pa.Table:
            cursor = con.cursor()
            try:
                cursor.register("msgmetrics_new_ids", ids)
                return cursor.sql(
                    f"select event_id from msgmetrics_new_ids where event_id in (select event_id from {table})"
                ).to_arrow_table()
            finally:
                cursor.close()

        yield stored
