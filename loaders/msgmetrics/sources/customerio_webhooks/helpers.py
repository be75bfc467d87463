"""SQL that parses reporting-webhook JSONL files in DuckDB (pure text builders).

A group of files is read as raw lines (so a bad line can be kept verbatim with its
line number) in one query. Two queries read a group:

- the scan (`scan_sql`) parses each line's envelope once and gives it a quarantine
  reason or none: it is narrow (ids, reason, the raw text of bad lines only), so it is
  cheap to keep while the load decides which copy of each event it keeps;
- the read (`read_sql`) parses the kept lines once more, for `timestamp` and the
  `data` text, and streams them out as Arrow.
"""

from __future__ import annotations

from .settings import KNOWN_METRICS

KNOWN_PAIRS = sorted(f"{t}.{m}" for t, ms in KNOWN_METRICS.items() for m in ms)

# A line's place in the load (file, then line) as one number: the tie-break that makes
# the first copy of an event win, and the key that joins the scan to the read.
LINE_KEY_BITS = 40

# read_csv with a delimiter that never occurs in JSON text (ASCII record separator)
# and no quoting gives one VARCHAR per line; blank lines come back as NULL. A window
# without ORDER BY numbers the lines in file order: DuckDB runs it as a streaming window,
# an operator of fixed order, so its pipeline keeps the file's order even when the
# connection sets preserve_insertion_order = false (as `EventReader`'s does).
# tests/python/test_load.py checks the numbers on a file DuckDB reads in parallel.
_READ_LINES = """
    select ({index}::bigint << {bits}) + row_number() over () as line_key, line
    from read_csv($file_{index}, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(30),
                  quote = '', escape = '', auto_detect = false, strict_mode = false,
                  max_line_size = 16777216)"""

# The envelope, typed by one JSON parse (NULL when the line is not valid JSON, or is
# JSON null; arrays and scalars give a struct of NULLs).
_SCAN_ENVELOPE = '{"event_id": "VARCHAR", "object_type": "VARCHAR", "metric": "VARCHAR", "timestamp": "JSON"}'
_READ_ENVELOPE = '{"object_type": "VARCHAR", "metric": "VARCHAR", "timestamp": "JSON", "data": "JSON"}'

_REASON = """
case
    when env is null and not json_valid(line) then 'not valid JSON'
    when env is null then 'not a JSON object (got ' || lower(json_type(line)) || ')'
    when env.event_id is null and env.object_type is null and env.metric is null
         and env."timestamp" is null and json_type(line) <> 'OBJECT'
        then 'not a JSON object (got ' || lower(json_type(line)) || ')'
    when env.event_id is null or env.event_id = '' or env.object_type is null or env.metric is null
         or env."timestamp" is null
        then 'missing required field(s): ' || array_to_string(list_filter([
            case when env.event_id is null or env.event_id = '' then 'event_id' end,
            case when env.object_type is null then 'object_type' end,
            case when env.metric is null then 'metric' end,
            case when env."timestamp" is null then 'timestamp' end
        ], lambda x: x is not null), ', ')
    when json_type(env."timestamp") not in ('UBIGINT', 'BIGINT') or try_cast(env."timestamp" as bigint) is null
        then 'timestamp is not an integer of unix seconds (got ' || lower(json_type(env."timestamp")) || ')'
end"""


def _lines(file_count: int) -> str:
    return "\n    union all".join(_READ_LINES.format(index=i, bits=LINE_KEY_BITS) for i in range(file_count))


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


def _is_known(object_type: str, metric: str) -> str:
    return f"({object_type} || '.' || {metric}) in ({', '.join(repr(p) for p in KNOWN_PAIRS)})"


def scan_sql(file_count: int) -> str:
    """Every non-blank line of files $file_0 ... with its event id and quarantine reason."""
    return f"""
with lines as ({_lines(file_count)}
), docs as (
    select line_key, line, try(json_transform(line, '{_SCAN_ENVELOPE}')) as env
    from lines
    where line is not null and (left(line, 1) = '{{' or trim(line) <> '')
), checked as (
    select line_key, line, env, {_REASON} as reason
    from docs
)
select
    line_key,
    reason,
    case when reason is null then env.event_id end as event_id,
    case when reason is null then {_is_known('env.object_type', 'env.metric')} end as is_known_event,
    case when reason is not null then line end as raw_line
from checked
"""


def read_sql(file_count: int, kept_table: str) -> str:
    """The events of files $file_0 ... whose line_key is in `kept_table` (line_key, event_id),
    with $url_<n>, $loaded_at as lineage."""
    urls = " ".join(f"when {i} then $url_{i}" for i in range(file_count))
    return f"""
with lines as ({_lines(file_count)}
), kept_lines as (
    select l.line_key, l.line, k.event_id
    from lines l join {kept_table} k on k.line_key = l.line_key
), parsed as (
    select *, json_transform(line, '{_READ_ENVELOPE}') as env from kept_lines
)
select
    event_id,
    env.object_type,
    env.metric,
    cast(env."timestamp" as bigint) as "timestamp",
    env.data::varchar as data,
    {_is_known('env.object_type', 'env.metric')} as is_known_event,
    case line_key >> {LINE_KEY_BITS} {urls} end as _source_file,
    line_key & {(1 << LINE_KEY_BITS) - 1} as _line_number,
    $loaded_at::timestamptz as _loaded_at
from parsed
"""
