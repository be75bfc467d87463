"""Parse one reporting-webhook JSONL file with DuckDB into Arrow tables.

DuckDB reads the file as raw lines (so a bad line can be kept verbatim), validates
each line as JSON, and splits the lines into good events and quarantined lines
with a reason. Nothing per-row happens in Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from .settings import KNOWN_METRICS

_KNOWN_PAIRS = sorted(f"{t}.{m}" for t, ms in KNOWN_METRICS.items() for m in ms)

# read_csv with a delimiter that never occurs in JSON text (ASCII record separator)
# and no quoting gives one VARCHAR per line; blank lines come back as NULL.
_LINES_SQL = """
create or replace temp table lines as
with raw as (
    select line, row_number() over () as line_number
    from read_csv($file, columns = {'line': 'VARCHAR'}, header = false, delim = chr(30),
                  quote = '', escape = '', auto_detect = false, strict_mode = false,
                  max_line_size = 16777216)
), checked as (
    select line_number, line, json_valid(line) as is_json
    from raw
    where line is not null and trim(line) <> ''
)
select
    line_number,
    line,
    is_json,
    case when is_json then json_type(line) end as doc_type,
    case when is_json then json_extract_string(line, ['$.event_id', '$.object_type', '$.metric']) end as envelope,
    case when is_json then json_type(line, '$.timestamp') end as timestamp_type
from checked
"""

_REASON_SQL = """
case
    when not is_json then 'not valid JSON'
    when doc_type <> 'OBJECT' then 'not a JSON object (got ' || lower(doc_type) || ')'
    when envelope[1] is null or envelope[1] = '' or envelope[2] is null or envelope[3] is null
         or timestamp_type is null or timestamp_type = 'NULL'
        then 'missing required field(s): ' || array_to_string(list_filter([
            case when envelope[1] is null or envelope[1] = '' then 'event_id' end,
            case when envelope[2] is null then 'object_type' end,
            case when envelope[3] is null then 'metric' end,
            case when timestamp_type is null or timestamp_type = 'NULL' then 'timestamp' end
        ], lambda x: x is not null), ', ')
    when timestamp_type not in ('UBIGINT', 'BIGINT')
        then 'timestamp is not an integer of unix seconds (got ' || lower(timestamp_type) || ')'
end
"""

_EVENTS_SQL = f"""
select
    envelope[1] as event_id,
    envelope[2] as object_type,
    envelope[3] as metric,
    cast(json_extract(line, '$.timestamp') as bigint) as "timestamp",
    json_extract(line, '$.data')::varchar as data,
    list_contains($known, envelope[2] || '.' || envelope[3]) as is_known_event,
    $source_file as _source_file,
    line_number as _line_number,
    $loaded_at::timestamptz as _loaded_at
from lines
where ({_REASON_SQL}) is null
"""

_QUARANTINE_SQL = f"""
select
    md5($source_file || ':' || line_number || ':' || line) as quarantine_id,
    $source_file as source_file,
    line_number,
    line as raw_line,
    {_REASON_SQL} as reason,
    $loaded_at::timestamptz as quarantined_at
from lines
where ({_REASON_SQL}) is not null
"""


def parse_webhook_file(local_path: Path, source_file: str, loaded_at: str) -> tuple[pa.Table, pa.Table]:
    """(events, quarantined lines) of one JSONL file, as Arrow tables."""
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    try:
        con.execute(_LINES_SQL, {"file": str(local_path)})
        params = {"source_file": source_file, "loaded_at": loaded_at}
        events = con.sql(_EVENTS_SQL, params={**params, "known": _KNOWN_PAIRS}).to_arrow_table()
        quarantined = con.sql(_QUARANTINE_SQL, params=params).to_arrow_table()
        return events, quarantined
    finally:
        con.close()
