"""dlt source for the Customer.io App API (customerio-formats.md §2).

Resources (raw dataset ``raw_customerio_api``; every row carries ``_loaded_at``, the load's time):

* ``messages``: ``GET /v1/messages``, one row per delivery with its metric timestamps, merged on
  ``id``. Read in windows of ``created`` of at most 180 days (``start_ts``/``end_ts``; the API
  serves at most 6 months per request), 1000 per page. Each run re-reads the deliveries created
  in the ``reread_days`` before the previous run's end, because opens and clicks land on old
  deliveries. Pages become Arrow tables; unusable objects go to ``messages_quarantine``.
* metadata, merged on their ids: ``campaigns``, ``campaign_actions``, ``newsletters``,
  ``newsletter_contents``, ``broadcasts``, ``broadcast_actions``, ``transactional_messages``
  (one request per list, plus one per campaign, newsletter and broadcast for their children).
* ``activities`` (optional, not read by default): ``GET /v1/activities``, merged on ``id``.

All resources share one :class:`~.client.AppApiClient`, so together they stay under 10 requests/s.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

import dlt
import pyarrow as pa

from .client import AppApiClient, AppApiError, AppApiAuthError, RequestStats  # noqa: F401 (re-exported)
from .helpers import base_url_for, iso, messages_to_arrow, metadata_rows, pick_list, read_start, windows
from .settings import (
    ACTIVITIES, ACTIVITIES_PAGE_LIMIT, ALL_RESOURCES, BATCH_ROWS, BROADCAST_ACTIONS, BROADCASTS, CAMPAIGN_ACTIONS,
    CAMPAIGNS, DEFAULT_FETCH_THREADS, DEFAULT_REREAD_DAYS, DEFAULT_RESOURCES, MAX_WINDOW_DAYS, MESSAGES_PAGE_LIMIT, MESSAGES_PATH,
    MESSAGES_QUARANTINE_TABLE, MESSAGES_TABLE, METADATA_QUARANTINE_TABLE, NEWSLETTER_CONTENTS, NEWSLETTERS,
    NEWSLETTERS_PAGE_LIMIT, REGION_URLS, TRANSACTIONAL,
)

log = logging.getLogger(__name__)

MERGE = {"disposition": "merge", "strategy": "delete-insert"}

QUARANTINE_COLUMNS = {
    "quarantine_id": {"data_type": "text"},
    "resource": {"data_type": "text"},
    "endpoint": {"data_type": "text"},
    "raw": {"data_type": "text"},
    "reason": {"data_type": "text"},
    "quarantined_at": {"data_type": "timestamp"},
}

# Columns the staging models read, declared so the tables keep their shape even when a load
# sees only nulls in them (dlt does not create all-null columns from Python rows).
_TS = {"data_type": "timestamp"}
METADATA_COLUMNS: dict[str, dict[str, dict]] = {
    "campaigns": {"id": {"data_type": "bigint"}, "name": {"data_type": "text"}, "type": {"data_type": "text"},
                  "state": {"data_type": "text"}, "active": {"data_type": "bool"},
                  "created": {"data_type": "bigint"}, "updated": {"data_type": "bigint"},
                  "deduplicate_id": {"data_type": "text"}, "_loaded_at": _TS},
    "campaign_actions": {"id": {"data_type": "bigint"}, "campaign_id": {"data_type": "bigint"},
                         "parent_action_id": {"data_type": "bigint"}, "name": {"data_type": "text"},
                         "type": {"data_type": "text"}, "subject": {"data_type": "text"},
                         "language": {"data_type": "text"}, "created": {"data_type": "bigint"},
                         "updated": {"data_type": "bigint"}, "deduplicate_id": {"data_type": "text"},
                         "_loaded_at": _TS},
    "newsletters": {"id": {"data_type": "bigint"}, "name": {"data_type": "text"}, "type": {"data_type": "text"},
                    "sent_at": {"data_type": "bigint"}, "created": {"data_type": "bigint"},
                    "updated": {"data_type": "bigint"}, "deduplicate_id": {"data_type": "text"},
                    "_loaded_at": _TS},
    "newsletter_contents": {"id": {"data_type": "bigint"}, "newsletter_id": {"data_type": "bigint"},
                            "name": {"data_type": "text"}, "type": {"data_type": "text"},
                            "subject": {"data_type": "text"}, "language": {"data_type": "text"},
                            "created": {"data_type": "bigint"}, "updated": {"data_type": "bigint"},
                            "deduplicate_id": {"data_type": "text"}, "_loaded_at": _TS},
    "broadcasts": {"id": {"data_type": "bigint"}, "name": {"data_type": "text"}, "type": {"data_type": "text"},
                   "state": {"data_type": "text"}, "active": {"data_type": "bool"},
                   "created": {"data_type": "bigint"}, "updated": {"data_type": "bigint"},
                   "deduplicate_id": {"data_type": "text"}, "_loaded_at": _TS},
    "broadcast_actions": {"id": {"data_type": "bigint"}, "broadcast_id": {"data_type": "bigint"},
                          "name": {"data_type": "text"}, "type": {"data_type": "text"},
                          "subject": {"data_type": "text"}, "created": {"data_type": "bigint"},
                          "updated": {"data_type": "bigint"}, "deduplicate_id": {"data_type": "text"},
                          "_loaded_at": _TS},
    "transactional_messages": {"id": {"data_type": "bigint"}, "name": {"data_type": "text"},
                               "description": {"data_type": "text"}, "created_at": {"data_type": "bigint"},
                               "updated_at": {"data_type": "bigint"}, "_loaded_at": _TS},
    "activities": {"id": {"data_type": "text"}, "type": {"data_type": "text"}, "timestamp": {"data_type": "bigint"},
                   "customer_id": {"data_type": "text"}, "delivery_id": {"data_type": "text"},
                   "delivery_type": {"data_type": "text"}, "name": {"data_type": "text"}, "_loaded_at": _TS},
}
PRIMARY_KEYS = {
    "campaigns": "id", "campaign_actions": ["campaign_id", "id"], "newsletters": "id",
    "newsletter_contents": ["newsletter_id", "id"], "broadcasts": "id", "broadcast_actions": ["broadcast_id", "id"],
    "transactional_messages": "id", "activities": "id",
}


@dataclass
class ApiReadStats:
    """Counts filled in while the resources run, for progress lines and the CLI summary."""

    http: RequestStats = field(default_factory=RequestStats)
    windows: list[tuple[int, int]] = field(default_factory=list)
    pages: int = 0
    deliveries_read: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    metadata_rows: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (before, after) the load

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries_read / self.http.elapsed_s if self.http.elapsed_s > 0 else 0.0

    def quarantine(self, rows: list[dict] | pa.Table) -> None:
        reasons = rows.column("reason").to_pylist() if isinstance(rows, pa.Table) else [r["reason"] for r in rows]
        self.quarantined += len(reasons)
        for reason in reasons:
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + 1


def _without_full_gc_scans_of(items: Iterator) -> Iterator:
    """`items`, with the objects alive before (dlt, pyarrow, ... hundreds of thousands) frozen
    out of the garbage collector's full passes: each page allocates ~40k objects, and the full
    passes over everything stalled every thread, request starts included, by 150-300 ms."""
    gc.freeze()
    try:
        yield from items
    finally:
        gc.unfreeze()


def _quarantine_hints(table: str):
    return dlt.mark.make_hints(table_name=table, write_disposition=MERGE, primary_key="quarantine_id",
                               columns=QUARANTINE_COLUMNS)


@dlt.source(name="customerio_api", max_table_nesting=0)
def customerio_api(
    api_key: str = dlt.secrets.value,
    region: str = "us",
    api_url: str | None = None,
    resources: Sequence[str] = DEFAULT_RESOURCES,
    since: int | None = None,
    until: int | None = None,
    reread_days: int = DEFAULT_REREAD_DAYS,
    stats: ApiReadStats | None = None,
    region_urls: dict[str, str] | None = None,
    client_options: dict[str, Any] | None = None,
    fetch_threads: int = DEFAULT_FETCH_THREADS,
):
    """The App API of one workspace. `since`/`until` are unix seconds on delivery `created`
    (default: from the previous run's end minus `reread_days`, to now). Deliveries are read
    in `fetch_threads` windows (or more: at most 180 days each) paged side by side."""
    unknown = sorted(set(resources) - set(ALL_RESOURCES))
    if unknown:
        raise ValueError(f"unknown App API resource(s) {', '.join(unknown)}; known: {', '.join(ALL_RESOURCES)}")
    stats = stats or ApiReadStats()
    base_url = base_url_for(region, api_url, region_urls or REGION_URLS)
    hint = "" if api_url else f" (the {region.upper()} data center, {base_url})"
    client = AppApiClient(api_key, base_url, region_hint=hint, **(client_options or {}))
    stats.http = client.stats
    load_clock: list[datetime] = []

    def loaded_at() -> datetime:
        """The load's time, taken when the first resource starts reading, not when the source is
        made: the pipeline runs inside the warehouse's writer lock, so no build can run between
        this time and the insert (a build that did would take a newer watermark than these rows
        and its incremental models would never see them)."""
        if not load_clock:
            load_clock.append(datetime.now(timezone.utc))
        return load_clock[0]

    until = int(time.time()) if until is None else until
    parents: dict[str, list[dict]] = {}

    def parent_list(spec) -> list[dict]:
        """A parent list (campaigns, newsletters, broadcasts), fetched once per run."""
        name, path, key = spec
        if name not in parents:
            params = {"limit": NEWSLETTERS_PAGE_LIMIT} if name == "newsletters" else None
            parents[name] = [obj for page in client.pages(path, key, params) for obj in page]
        return parents[name]

    def metadata(spec, parent_spec=None, parent_key=None, params=None):
        name, path, key = spec
        hints = _quarantine_hints(METADATA_QUARANTINE_TABLE)

        @dlt.resource(name=name, write_disposition=MERGE, primary_key=PRIMARY_KEYS[name], columns=METADATA_COLUMNS[name])
        def read() -> Iterator:
            if parent_spec is None:
                if spec in (CAMPAIGNS, NEWSLETTERS, BROADCASTS):  # also the parents of other resources
                    groups = [(path, None, parent_list(spec))]
                elif isinstance(key, tuple):
                    groups = [(path, None, pick_list(client.get_json(path, params), key))]
                else:
                    groups = [(path, None, [o for page in client.pages(path, key, params) for o in page])]
            else:
                groups = []
                for parent in parent_list(parent_spec):
                    if not isinstance(parent, dict) or parent.get("id") is None:
                        continue  # quarantined with the parent list
                    child_path = path.format(id=parent["id"])
                    objects = [o for page in client.pages(child_path, key, params) for o in page]
                    groups.append((child_path, (parent_key, parent["id"]), objects))
            for endpoint, parent, objects in groups:
                rows, bad = metadata_rows(objects, name, endpoint, loaded_at(), parent)
                stats.metadata_rows[name] = stats.metadata_rows.get(name, 0) + len(rows)
                if rows:
                    yield rows
                if bad:
                    stats.quarantine(bad)
                    yield dlt.mark.with_hints(bad, hints, create_table_variant=True)
            log.info("%s: %d row(s) read", name, stats.metadata_rows.get(name, 0))

        return read

    @dlt.resource(name=MESSAGES_TABLE, write_disposition=MERGE, primary_key="id")
    def messages() -> Iterator:
        state = dlt.current.resource_state()
        start = read_start(since, state.get("read_until"), reread_days, until)
        hints = _quarantine_hints(MESSAGES_QUARANTINE_TABLE)
        load_time = loaded_at()
        pending: list[pa.Table] = []
        spans = windows(start, until, MAX_WINDOW_DAYS, min_parts=fetch_threads)
        stats.windows.extend(spans)
        log.info("messages: reading deliveries created %s .. %s in %d window(s)", iso(start), iso(until), len(spans))
        param_sets = [{"limit": MESSAGES_PAGE_LIMIT, "start_ts": lo, "end_ts": hi} for lo, hi in spans]
        pages = client.pages_of_each(MESSAGES_PATH, "messages", param_sets, threads=fetch_threads,
                                     transform=lambda page: messages_to_arrow(page, load_time, MESSAGES_PATH))
        for good, bad in _without_full_gc_scans_of(pages):
            stats.pages += 1
            stats.deliveries_read += good.num_rows
            if good.num_rows:
                pending.append(good)
            if bad.num_rows:
                stats.quarantine(bad)
                yield dlt.mark.with_hints(bad, hints, create_table_variant=True)
            if stats.pages % 20 == 0:
                log.info("messages: %d pages, %d deliveries, %.1f requests/s", stats.pages,
                         stats.deliveries_read, client.stats.requests_per_s)
            if sum(t.num_rows for t in pending) >= BATCH_ROWS:
                yield pa.concat_tables(pending)
                pending = []
        if pending:
            yield pa.concat_tables(pending)
        log.info("messages: %d pages, %d deliveries, %d quarantined, %.1f requests/s", stats.pages,
                 stats.deliveries_read, stats.quarantined, client.stats.requests_per_s)
        # committed with the load package: only when the whole load succeeds
        state["read_until"] = until

    builders = {
        "messages": lambda: messages,
        "campaigns": lambda: metadata(CAMPAIGNS),
        "campaign_actions": lambda: metadata(CAMPAIGN_ACTIONS, CAMPAIGNS, "campaign_id"),
        "newsletters": lambda: metadata(NEWSLETTERS),
        "newsletter_contents": lambda: metadata(NEWSLETTER_CONTENTS, NEWSLETTERS, "newsletter_id"),
        "broadcasts": lambda: metadata(BROADCASTS),
        "broadcast_actions": lambda: metadata(BROADCAST_ACTIONS, BROADCASTS, "broadcast_id"),
        "transactional_messages": lambda: metadata(TRANSACTIONAL),
        "activities": lambda: metadata(ACTIVITIES, params={"limit": ACTIVITIES_PAGE_LIMIT}),
    }
    # metadata first: a wrong key fails on the first small request, not after minutes of messages
    ordered = [name for name in ALL_RESOURCES if name != "messages" and name in resources]
    return [builders[name]() for name in ordered] + ([messages] if "messages" in resources else [])
