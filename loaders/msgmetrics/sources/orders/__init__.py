"""dlt source for shop orders (purchases) from JSONL or CSV files.

Columns: order_id, customer_id (the Customer.io `id`) and/or email, ordered_at
(ISO-8601, UTC when no offset is given), revenue, currency. DuckDB parses and
types the rows; a row that cannot be used goes to a quarantine table with its
reason. Orders are merged on `order_id`, so a re-run never duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import dlt
import duckdb
import pyarrow as pa

from ..files import list_input_files

log = logging.getLogger(__name__)

ORDERS_TABLE = "orders"
QUARANTINE_TABLE = "orders_quarantine"
DEFAULT_FILE_GLOB = "**/*.[cj]s*"  # .csv, .jsonl, .json

# One raw text row per input row, as JSON text, whatever the file format.
_ROWS_SQL = {
    "jsonl": """
        create or replace temp table rows as
        select row_number() over () as line_number, line as raw,
               case when json_valid(line) and json_type(line) = 'OBJECT' then line::json end as doc
        from read_csv($file, columns = {'line': 'VARCHAR'}, header = false, delim = chr(30),
                      quote = '', escape = '', auto_detect = false, strict_mode = false)
        where line is not null and trim(line) <> ''
    """,
    "csv": """
        create or replace temp table rows as
        with src as (select * from read_csv($file, header = true, all_varchar = true))
        select row_number() over () + 1 as line_number, to_json(src)::varchar as raw, to_json(src) as doc
        from src
    """,
}

_TYPED_SQL = """
create or replace temp table typed as
select
    line_number, raw,
    nullif(trim(doc->>'order_id'), '') as order_id,
    nullif(trim(doc->>'customer_id'), '') as customer_id,
    nullif(lower(trim(doc->>'email')), '') as email,
    try_cast(doc->>'ordered_at' as timestamptz) as ordered_at,
    try_cast(doc->>'revenue' as decimal(18, 2)) as revenue,
    coalesce(nullif(upper(trim(doc->>'currency')), ''), 'USD') as currency,
    case
        when doc is null then 'not a JSON object'
        when nullif(trim(doc->>'order_id'), '') is null then 'missing order_id'
        when nullif(trim(doc->>'customer_id'), '') is null and nullif(trim(doc->>'email'), '') is null
            then 'no customer_id or email: the order cannot be tied to a person'
        when try_cast(doc->>'ordered_at' as timestamptz) is null
            then 'ordered_at is missing or not an ISO-8601 time'
        when try_cast(doc->>'revenue' as decimal(18, 2)) is null then 'revenue is missing or not a number'
    end as reason
from rows
"""

@dataclass
class OrderReadStats:
    files_read: int = 0
    orders_read: int = 0
    quarantined: int = 0


def _format_of(url: str) -> str:
    return "csv" if ".csv" in url.lower() else "jsonl"


def parse_orders_file(local_path, source_file: str, loaded_at: str) -> tuple[pa.Table, pa.Table]:
    """(orders, quarantined rows) of one orders file, as Arrow tables."""
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false; set TimeZone = 'UTC'")
        con.execute(_ROWS_SQL[_format_of(source_file)], {"file": str(local_path)})
        con.execute(_TYPED_SQL)
        params = {"source_file": source_file, "loaded_at": loaded_at}
        orders = con.sql(
            """select order_id, customer_id, email, ordered_at, revenue, currency,
                      $source_file as _source_file, $loaded_at::timestamptz as _loaded_at
               from typed where reason is null""",
            params=params,
        ).to_arrow_table()
        quarantined = con.sql(
            """select md5($source_file || ':' || line_number || ':' || raw) as quarantine_id,
                      $source_file as source_file, line_number, raw as raw_line, reason,
                      $loaded_at::timestamptz as quarantined_at
               from typed where reason is not null""",
            params=params,
        ).to_arrow_table()
        return orders, quarantined
    finally:
        con.close()


@dlt.source(name="shop_orders")
def shop_orders(locations: list[str], file_glob: str = DEFAULT_FILE_GLOB, stats: OrderReadStats | None = None):
    """Order files at `locations` (paths or URLs, files or folders)."""
    return orders(locations, file_glob, stats or OrderReadStats())


@dlt.resource(
    name=ORDERS_TABLE,
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    primary_key="order_id",
)
def orders(locations: list[str], file_glob: str, stats: OrderReadStats):
    loaded_at = datetime.now(timezone.utc).isoformat()
    quarantine_hints = dlt.mark.make_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="quarantine_id",
    )
    for input_file in list_input_files(locations, file_glob):
        with input_file.local_path() as local_path:
            good, bad = parse_orders_file(local_path, input_file.url, loaded_at)
        stats.files_read += 1
        stats.orders_read += good.num_rows
        stats.quarantined += bad.num_rows
        log.info("%s: %d orders, %d quarantined", input_file.url, good.num_rows, bad.num_rows)
        if good.num_rows:
            yield good
        if bad.num_rows:
            yield dlt.mark.with_hints(bad, quarantine_hints, create_table_variant=True)
