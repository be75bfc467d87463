"""Run the dlt pipelines that land raw data in the warehouse."""

from __future__ import annotations

import os
from dataclasses import dataclass

import dlt
import duckdb

from .settings import RAW_API_DATASET, RAW_DW_SYNC_DATASET, RAW_ORDERS_DATASET, RAW_WEBHOOKS_DATASET, Warehouse
from .sources.customerio_webhooks import WebhookReadStats, customerio_webhooks
from .sources.customerio_webhooks.settings import DEFAULT_FILE_GLOB as WEBHOOK_GLOB
from .sources.files import StillBeingWritten, list_input_files
from .sources.orders import DEFAULT_FILE_GLOB as ORDERS_GLOB
from .sources.orders import OrderReadStats, shop_orders
from .warehouse_sql import table_exists
from .writer_lock import writer_lock


@dataclass
class LoadResult:
    load_ids: list[str]
    rows_before: int
    rows_after: int
    stats: object
    note: str | None = None  # why nothing was read, when that is not an error

    @property
    def rows_added(self) -> int:
        return self.rows_after - self.rows_before


# DuckDB's default memory limit is 80 % of RAM and it caches what it writes up to it:
# a 10M-event load peaked at 2.8 GB in the load step, 1.4 GB with this (same time).
DESTINATION_MEMORY_LIMIT = "1GB"
# How DuckDB stores the rows a load writes. Its default picks dictionary+FSST for the raw JSON
# text; ZSTD stored 10M webhook events in 6 s instead of 13 s and in 1.0 GB instead of 1.5 GB
# (docs/decisions.md), and staging reads them as fast. Numbers and booleans keep their own
# encodings (ZSTD is for strings).
RAW_TABLE_COMPRESSION = "zstd"
# dlt keeps every loaded job file (load/loaded/<load id>/completed_jobs) unless told not to: a
# copy of the data in Parquet beside the warehouse, 1.3 GB per 10M events, at every load. The
# package's state and schema files stay; only the data files go once they are in the warehouse.
# An environment that sets LOAD__DELETE_COMPLETED_JOBS itself keeps its own choice.
DELETE_COMPLETED_JOBS_ENV = "LOAD__DELETE_COMPLETED_JOBS"


def _pipeline(warehouse: Warehouse, name: str, dataset: str, any_row_order: bool = False) -> dlt.Pipeline:
    """any_row_order: DuckDB may store a load's rows in any order (only for tables whose rows
    were deduplicated before dlt: dlt's own delete-insert keeps an arbitrary one of duplicate keys)."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    warehouse.ensure_parent()
    os.environ.setdefault(DELETE_COMPLETED_JOBS_ENV, "true")
    credentials = DuckDbCredentials(str(warehouse.path))
    credentials.global_config = {"memory_limit": DESTINATION_MEMORY_LIMIT, "force_compression": RAW_TABLE_COMPRESSION}
    if any_row_order:
        credentials.global_config["preserve_insertion_order"] = False
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=dataset,
        pipelines_dir=str(warehouse.pipelines_dir),
    )


def _count(warehouse: Warehouse, table: str) -> int:
    if not warehouse.path.exists():
        return 0
    con = duckdb.connect(str(warehouse.path))
    try:
        schema, name = table.split(".")
        return con.execute(f"select count(*) from {table}").fetchone()[0] if table_exists(con, schema, name) else 0
    finally:
        con.close()


def _run(warehouse: Warehouse, pipeline_name: str, dataset: str, table: str, source, stats,
         any_row_order: bool = False) -> LoadResult:
    with writer_lock(warehouse, f"load {pipeline_name}"):
        before = _count(warehouse, f"{dataset}.{table}")
        info = _pipeline(warehouse, pipeline_name, dataset, any_row_order).run(source, loader_file_format="parquet")
        after = _count(warehouse, f"{dataset}.{table}")
    return LoadResult(list(info.loads_ids), before, after, stats)


def load_webhooks(warehouse: Warehouse, locations: list[str], reread: bool = False) -> LoadResult:
    stats = WebhookReadStats()
    try:
        list_input_files(locations, WEBHOOK_GLOB)  # fail early and clearly on a wrong path
    except StillBeingWritten as exc:
        # a receiver's folder before its first rotation: nothing to load yet, and a scheduled
        # `run` goes on to build and push what is already loaded
        with writer_lock(warehouse, "load msgmetrics_webhooks"):
            rows = _count(warehouse, f"{RAW_WEBHOOKS_DATASET}.webhook_events")
        return LoadResult([], rows, rows, stats, note=str(exc))
    source = customerio_webhooks(locations, reread=reread, stats=stats, dedup_against_destination=True)
    # the events are appended deduplicated (EventReader) and staging orders by load, file and
    # line, so DuckDB need not keep the row order: ~20 % off the insert of 10M events
    return _run(warehouse, "msgmetrics_webhooks", RAW_WEBHOOKS_DATASET, "webhook_events", source, stats,
                any_row_order=True)


def load_orders(warehouse: Warehouse, locations: list[str]) -> LoadResult:
    list_input_files(locations, ORDERS_GLOB)
    stats = OrderReadStats()
    source = shop_orders(locations, stats=stats)
    return _run(warehouse, "msgmetrics_orders", RAW_ORDERS_DATASET, "orders", source, stats)


@dataclass(frozen=True)
class ApiSettings:
    """Where and how to reach the App API: from the environment unless given."""

    api_key: str
    region: str = "us"
    api_url: str | None = None
    max_requests_per_s: int = 10

    @classmethod
    def from_env(cls, api_key: str | None = None, api_url: str | None = None, region: str | None = None) -> "ApiSettings":
        """CUSTOMERIO_APP_API_KEY (else dlt's secret sources.customerio_api.api_key),
        CUSTOMERIO_REGION (us|eu), CUSTOMERIO_API_URL (overrides the host),
        CUSTOMERIO_MAX_REQUESTS_PER_S (at most 10, the App API's limit)."""
        import os

        key = api_key or os.environ.get("CUSTOMERIO_APP_API_KEY") or _dlt_secret("sources.customerio_api.api_key")
        if not key:
            raise RuntimeError("no Customer.io App API key: set CUSTOMERIO_APP_API_KEY (or "
                               "sources.customerio_api.api_key in .dlt/secrets.toml)")
        rps = os.environ.get("CUSTOMERIO_MAX_REQUESTS_PER_S") or "10"
        try:
            max_rps = int(rps)
        except ValueError:
            raise RuntimeError(f"CUSTOMERIO_MAX_REQUESTS_PER_S must be an integer (got {rps!r})") from None
        return cls(api_key=key, region=(region or os.environ.get("CUSTOMERIO_REGION") or "us").strip().lower(),
                   api_url=api_url or os.environ.get("CUSTOMERIO_API_URL") or None,
                   max_requests_per_s=max(1, min(10, max_rps)))

    def __repr__(self) -> str:  # never show the key
        return f"ApiSettings(region={self.region!r}, api_url={self.api_url!r}, max_requests_per_s={self.max_requests_per_s})"


def _dlt_secret(name: str) -> str | None:
    try:
        return dlt.secrets.get(name)
    except Exception:  # no secrets file, or an unreadable one: the caller says what to set
        return None


def _time(value):
    from .sources.customerio_api.helpers import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None


def load_api(warehouse: Warehouse, api: ApiSettings, resources=None, since: str | int | None = None,
             until: str | int | None = None, reread_days: int | None = None,
             region_urls: dict[str, str] | None = None, client_options: dict | None = None,
             fetch_threads: int | None = None) -> LoadResult:
    """Pull the Customer.io App API (deliveries and/or message metadata) into raw_customerio_api."""
    from .sources.customerio_api import ApiReadStats, customerio_api
    from .sources.customerio_api.helpers import base_url_for
    from .sources.customerio_api.settings import (
        DEFAULT_FETCH_THREADS, DEFAULT_REREAD_DAYS, DEFAULT_RESOURCES, REGION_URLS,
    )

    try:
        base_url_for(api.region, api.api_url, region_urls or REGION_URLS)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    stats = ApiReadStats()
    source = customerio_api(
        api_key=api.api_key, region=api.region, api_url=api.api_url,
        resources=tuple(resources or DEFAULT_RESOURCES), since=_time(since), until=_time(until),
        reread_days=DEFAULT_REREAD_DAYS if reread_days is None else reread_days, stats=stats,
        region_urls=region_urls, client_options={"max_requests_per_s": api.max_requests_per_s, **(client_options or {})},
        fetch_threads=fetch_threads or DEFAULT_FETCH_THREADS,
    )
    tables = [name for name in source.resources.selected]
    with writer_lock(warehouse, "load customerio_api"):
        before = {t: _count(warehouse, f"{RAW_API_DATASET}.{t}") for t in tables}
        info = _pipeline(warehouse, "msgmetrics_customerio_api", RAW_API_DATASET).run(source, loader_file_format="parquet")
        stats.table_rows = {t: (before[t], _count(warehouse, f"{RAW_API_DATASET}.{t}")) for t in tables}
    before_messages, after_messages = stats.table_rows.get("messages", (0, 0))
    return LoadResult(list(info.loads_ids), before_messages, after_messages, stats)


# ---------------------------------------------------------------- Data Warehouse Sync
@dataclass
class DwSyncLoadResult:
    load_ids: list[str]
    rows_before: dict[str, int]  # raw table -> rows before the load
    rows_after: dict[str, int]
    stats: object

    def rows_added(self, table: str) -> int:
        return self.rows_after.get(table, 0) - self.rows_before.get(table, 0)


def _counts(warehouse: Warehouse, dataset: str, tables: list[str]) -> dict[str, int]:
    if not warehouse.path.exists():
        return {t: 0 for t in tables}
    con = duckdb.connect(str(warehouse.path))
    try:
        return {t: con.execute(f"select count(*) from {dataset}.{t}").fetchall()[0][0]
                if table_exists(con, dataset, t) else 0 for t in tables}
    finally:
        con.close()


def load_dw_sync(warehouse: Warehouse, locations: list[str], reread: bool = False) -> DwSyncLoadResult:
    """Customer.io Data Warehouse Sync Parquet files into raw_customerio_dw (new files only)."""
    from .sources.customerio_dw_sync import DwSyncReadStats, customerio_dw_sync
    from .sources.customerio_dw_sync.settings import DEFAULT_FILE_GLOB as DW_GLOB
    from .sources.customerio_dw_sync.settings import FILE_TYPES, QUARANTINE_TABLE

    list_input_files(locations, DW_GLOB)  # fail early and clearly on a wrong path
    tables = [spec.table for spec in FILE_TYPES.values()] + [QUARANTINE_TABLE]
    stats = DwSyncReadStats()
    with writer_lock(warehouse, "load dw-sync"):
        before = _counts(warehouse, RAW_DW_SYNC_DATASET, tables)
        pipeline = _pipeline(warehouse, "msgmetrics_dw_sync", RAW_DW_SYNC_DATASET)
        info = pipeline.run(customerio_dw_sync(locations, reread=reread, stats=stats), loader_file_format="parquet")
        after = _counts(warehouse, RAW_DW_SYNC_DATASET, tables)
    return DwSyncLoadResult(list(info.loads_ids), before, after, stats)
