"""When data last arrived from each raw source, and how new each source's newest event is.

Shared by `msgmetrics doctor` and `msgmetrics report`. A warehouse holds any subset of the
sources (webhooks only, the App API only, Data Warehouse Sync only, or several), so every
table is looked up first and a missing one is simply not listed.

``raw_source_loads`` reads the newest ``_loaded_at`` of the loaders' own tables (every dlt
table they write carries it), grouped per source; a load that added no rows (no new files)
does not move it, so it says when data last *arrived*. ``event_source_times`` reads
``marts.fct_message_events`` per ``event_source`` (which source won each fact).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .settings import RAW_API_DATASET, RAW_DW_SYNC_DATASET, RAW_ORDERS_DATASET, RAW_WEBHOOKS_DATASET

# App API tables that carry deliveries and their metrics; the other App API tables are names.
API_EVENT_TABLES = ("messages", "activities")


@dataclass(frozen=True)
class RawSource:
    key: str
    label: str
    schema: str
    event_source: str | None  # the fct_message_events.event_source it feeds (None: names, orders)
    load_command: str
    tables: tuple[str, ...] | None = None  # None: every table of the schema with _loaded_at
    exclude: tuple[str, ...] = ()


RAW_SOURCES = (
    RawSource("webhooks", "webhooks", RAW_WEBHOOKS_DATASET, "webhook", "msgmetrics load webhooks PATH",
              tables=("webhook_events",)),
    RawSource("api", "App API deliveries", RAW_API_DATASET, "app_api", "msgmetrics load api",
              tables=API_EVENT_TABLES),
    RawSource("api_names", "App API names", RAW_API_DATASET, None, "msgmetrics load api", exclude=API_EVENT_TABLES),
    RawSource("dw_sync", "Data Warehouse Sync", RAW_DW_SYNC_DATASET, "dw_sync", "msgmetrics load dw-sync PATH"),
    RawSource("orders", "orders", RAW_ORDERS_DATASET, None, "msgmetrics load orders PATH", tables=("orders",)),
)
EVENT_SOURCE_LABELS = {s.event_source: s.label for s in RAW_SOURCES if s.event_source}
EVENT_SOURCE_COMMANDS = {s.event_source: s.load_command for s in RAW_SOURCES if s.event_source}


@dataclass(frozen=True)
class SourceLoad:
    source: RawSource
    tables: tuple[str, ...]  # the tables found, schema-qualified
    newest_loaded_at: datetime | None  # naive UTC; None when the tables are empty
    rows: int


@dataclass(frozen=True)
class EventSourceTimes:
    event_source: str
    events: int
    newest_event: datetime | None
    newest_load: datetime | None


def utc_naive(value):
    """DuckDB gives TIMESTAMPTZ as aware datetimes and TIMESTAMP as naive (UTC here)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _loaded_tables(con) -> dict[str, list[str]]:
    """schema -> tables with a _loaded_at column (dlt's own and quarantine tables have none)."""
    rows = con.execute("""
        select table_schema, table_name from information_schema.columns
        where column_name = '_loaded_at' and table_schema in (?, ?, ?, ?)
        order by table_schema, table_name
    """, [RAW_WEBHOOKS_DATASET, RAW_API_DATASET, RAW_DW_SYNC_DATASET, RAW_ORDERS_DATASET]).fetchall()
    found: dict[str, list[str]] = {}
    for schema, table in rows:
        if not table.startswith("_dlt") and not table.endswith("_quarantine"):
            found.setdefault(schema, []).append(table)
    return found


def raw_source_loads(con) -> list[SourceLoad]:
    """One entry per source that has at least one table, in RAW_SOURCES order."""
    found = _loaded_tables(con)
    out = []
    for source in RAW_SOURCES:
        present = [t for t in found.get(source.schema, [])
                   if (source.tables is None or t in source.tables) and t not in source.exclude]
        if not present:
            continue
        qualified = tuple(f"{source.schema}.{t}" for t in present)
        union = " union all ".join(f"select max(_loaded_at) as t, count(*) as n from {q}" for q in qualified)
        newest, rows = con.execute(f"select max(t), coalesce(sum(n), 0) from ({union})").fetchone()
        out.append(SourceLoad(source, qualified, utc_naive(newest), int(rows)))
    return out


def event_source_times(con) -> list[EventSourceTimes]:
    """Per event_source of marts.fct_message_events: events, newest occurred_at and loaded_at."""
    rows = con.execute("""
        select event_source, count(*), max(occurred_at), max(loaded_at)
        from marts.fct_message_events group by event_source order by count(*) desc, event_source
    """).fetchall()
    return [EventSourceTimes(s, int(n), utc_naive(e), utc_naive(l)) for s, n, e, l in rows]
