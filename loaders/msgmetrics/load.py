"""Run the dlt pipelines that land raw data in the warehouse."""

from __future__ import annotations

from dataclasses import dataclass

import dlt
import duckdb

from .settings import RAW_DW_SYNC_DATASET, RAW_ORDERS_DATASET, RAW_WEBHOOKS_DATASET, Warehouse
from .sources.customerio_webhooks import WebhookReadStats, customerio_webhooks
from .sources.customerio_webhooks.settings import DEFAULT_FILE_GLOB as WEBHOOK_GLOB
from .sources.files import list_input_files
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

    @property
    def rows_added(self) -> int:
        return self.rows_after - self.rows_before


def _pipeline(warehouse: Warehouse, name: str, dataset: str) -> dlt.Pipeline:
    warehouse.ensure_parent()
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(warehouse.path)),
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


def _run(warehouse: Warehouse, pipeline_name: str, dataset: str, table: str, source, stats) -> LoadResult:
    with writer_lock(warehouse, f"load {pipeline_name}"):
        before = _count(warehouse, f"{dataset}.{table}")
        info = _pipeline(warehouse, pipeline_name, dataset).run(source, loader_file_format="parquet")
        after = _count(warehouse, f"{dataset}.{table}")
    return LoadResult(list(info.loads_ids), before, after, stats)


def load_webhooks(warehouse: Warehouse, locations: list[str], reread: bool = False) -> LoadResult:
    list_input_files(locations, WEBHOOK_GLOB)  # fail early and clearly on a wrong path
    stats = WebhookReadStats()
    source = customerio_webhooks(locations, reread=reread, stats=stats)
    return _run(warehouse, "msgmetrics_webhooks", RAW_WEBHOOKS_DATASET, "webhook_events", source, stats)


def load_orders(warehouse: Warehouse, locations: list[str]) -> LoadResult:
    list_input_files(locations, ORDERS_GLOB)
    stats = OrderReadStats()
    source = shop_orders(locations, stats=stats)
    return _run(warehouse, "msgmetrics_orders", RAW_ORDERS_DATASET, "orders", source, stats)


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
