"""A Customer.io Data Warehouse Sync export derived from the generator's webhook files.

``write_dw_sync_export(data_dir, out_dir)`` reads ``data_dir/webhooks/events-*.jsonl`` (what
:mod:`msgmetrics.generate` writes) and writes the Parquet files Customer.io would have put in
the bucket for the same activity (customerio-formats.md §3), named
``<type>_v4_<workspace>_<sequence>.parquet``:

* one export batch per webhook file (a UTC day of arrival), so events that reached the
  webhook late reach the export late too; sequence numbers grow with the batch;
* ``metrics``: one row per distinct webhook message event (profile events have no metrics
  row), with the webhook ``event_id`` reused as the DW ``event_id`` (an assumption: the
  real exports' event ids may differ from the webhooks');
* ``deliveries``: one per delivery_id, exported in the batch of its ``sent`` event (so when
  that event was late, its delivered/opened metrics arrive before the delivery does);
  SMS as ``twilio``; broadcasts as ``campaign_id`` = broadcast id with a ``trigger_id``;
* ``people``: one per person, ``internal_customer_id`` = cio_id, ``customer_id`` = id;
* ``subjects``: one per journey; ``outputs``: one per delivery that has a journey;
* re-exports, so "latest row per key" matters: ~2 % of deliveries are first exported under
  an anonymous profile and re-exported (higher seq_num) under the known person a batch
  later (a profile merge), and ~5 % of people are first exported without their ``id`` and
  re-exported once identified. In the last batch both versions sit in the same file.

Everything runs in DuckDB (no per-row Python); the output is deterministic.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from .sources.customerio_webhooks.event_reader import EventReader

WORKSPACE_ID = "90210"
SCHEMA_VERSION = 4
FIRST_SEQ = 241_600_000_000_000_000  # the magnitude of a real export's sequence numbers
TYPES = ("deliveries", "metrics", "people", "subjects", "outputs")

_EVENTS_SQL = """
create table events as
select
    event_id, object_type, metric, "timestamp" as ts, batch, _line_number,
    json_extract_string(data, '$.delivery_id') as delivery_id,
    json_extract_string(data, '$.identifiers.cio_id') as cio_id,
    nullif(json_extract_string(data, '$.identifiers.id'), '') as customer_id,
    nullif(json_extract_string(data, '$.identifiers.email'), '') as email,
    try_cast(json_extract_string(data, '$.campaign_id') as bigint) as campaign_id,
    try_cast(json_extract_string(data, '$.broadcast_id') as bigint) as broadcast_id,
    try_cast(json_extract_string(data, '$.newsletter_id') as bigint) as newsletter_id,
    try_cast(json_extract_string(data, '$.content_id') as bigint) as content_id,
    json_extract_string(data, '$.transactional_message_id') as transactional_message_id,
    try_cast(json_extract_string(data, '$.action_id') as bigint) as action_id,
    try_cast(json_extract_string(data, '$.trigger_id') as bigint) as trigger_id,
    json_extract_string(data, '$.journey_id') as journey_id,
    json_extract_string(data, '$.trigger_event_id') as trigger_event_id,
    json_extract_string(data, '$.href') as href,
    try_cast(json_extract_string(data, '$.link_id') as bigint) as link_id,
    try_cast(json_extract_string(data, '$.proxied') as boolean) as proxied,
    try_cast(json_extract_string(data, '$.prefetched') as boolean) as prefetched,
    try_cast(json_extract_string(data, '$.machine') as boolean) as machine,
    json_extract_string(data, '$.failure_message') as failure_message
from webhook_events
-- a retried webhook is one event: its first arrival counts
qualify row_number() over (partition by event_id order by batch, _line_number) = 1
"""

# Rows of every file type, each with the batch it is exported in and an order within it.
_ROWS_SQL = """
create table metrics as
select batch, 0 as version_rank, event_id as sort_key,
       $workspace as workspace_id, event_id, delivery_id, metric, failure_message as reason,
       link_id, href as link_url, ts as created_at,
       case when metric = 'opened' then proxied end as proxied,
       case when metric = 'opened' then prefetched end as prefetched,
       case when metric = 'clicked' then machine end as machine
from events where delivery_id is not null and object_type <> 'customer';

create table delivery_facts as
select
    delivery_id,
    coalesce(min(case when metric = 'sent' then batch end), min(batch)) as batch,
    coalesce(min(case when metric = 'sent' then ts end), min(ts)) as created_at,
    max(cio_id) as cio_id, max(object_type) as object_type, max(campaign_id) as campaign_id,
    max(broadcast_id) as broadcast_id, max(newsletter_id) as newsletter_id, max(content_id) as content_id,
    max(transactional_message_id) as transactional_message_id, max(action_id) as action_id,
    max(trigger_id) as trigger_id, max(journey_id) as journey_id, max(trigger_event_id) as trigger_event_id,
    -- ~2 % are first exported under an anonymous profile, then re-exported after the merge
    hash(delivery_id) % 50 = 0 as reexported
from events where delivery_id is not null and object_type <> 'customer'
group by delivery_id;

create table deliveries as
with versions as (
    select *, 1 as version_rank, cio_id as person,
           case when reexported then least(batch + 1, $last_batch) else batch end as export_batch
    from delivery_facts
    union all
    -- the first version: the delivery's own batch, under the anonymous profile
    select *, 0, 'anon-' || left(md5(cio_id), 12), batch
    from delivery_facts where reexported
)
select
    export_batch as batch, version_rank, delivery_id as sort_key,
    $workspace as workspace_id, delivery_id, person as internal_customer_id, journey_id as subject_id,
    trigger_event_id as event_id,
    case when object_type = 'sms' then 'twilio' else object_type end as delivery_type,
    coalesce(campaign_id, broadcast_id) as campaign_id, action_id, newsletter_id, content_id, trigger_id,
    created_at, transactional_message_id
from versions;

create table people as
with facts as (
    select cio_id, max(customer_id) as customer_id, max(email) as email, min(ts) as first_seen, min(batch) as batch,
           max(customer_id) is not null and hash(cio_id) % 20 = 0 as reexported
    from events where cio_id is not null
    group by cio_id
), versions as (
    select *, 1 as version_rank, customer_id as exported_id, first_seen as updated from facts
    union all
    -- first exported before the person was identified (no id yet)
    select *, 0, null, first_seen from facts where reexported
)
select
    case when reexported and version_rank = 1 then least(batch + 2, $last_batch) else batch end as batch,
    version_rank, cio_id as sort_key,
    $workspace as workspace_id, exported_id as customer_id, cio_id as internal_customer_id,
    false as deleted, false as suppressed, first_seen as created_at,
    case when reexported and version_rank = 1 then first_seen + 86400 else first_seen end as updated_at,
    email as email_addr
from versions;

create table subjects as
select min(batch) as batch, 0 as version_rank, journey_id as sort_key,
       $workspace as workspace_id, journey_id as subject_name, max(cio_id) as internal_customer_id,
       case when max(broadcast_id) is not null then 'broadcast' else 'campaign' end as campaign_type,
       max(coalesce(campaign_id, broadcast_id)) as campaign_id, max(trigger_event_id) as event_id,
       max(trigger_id) as trigger_id, min(created_at) as started_campaign_at, min(created_at) as created_at
from delivery_facts where journey_id is not null
group by journey_id;

create table outputs as
select batch, 0 as version_rank, delivery_id as sort_key,
       $workspace as workspace_id, 'out-' || left(md5(delivery_id), 20) as output_id, journey_id as subject_name,
       'message' as output_type, action_id, cast(null as varchar) as explanation, delivery_id, false as draft,
       true as link_tracked, cast(null as bigint) as split_test_index, cast(null as bigint) as branch_index,
       cast(null as bigint) as delay_ends_at, cast(null as varchar) as manual_segment_id,
       cast(null as boolean) as add_to_manual_segment, created_at
from delivery_facts where journey_id is not null;
"""


def write_dw_sync_export(data_dir: Path, out_dir: Path, workspace_id: str = WORKSPACE_ID) -> dict:
    """Write the export for the webhook files in ``data_dir/webhooks``; returns rows and files per type.

    Parquet files already in ``out_dir`` are removed first, so the folder holds one export.
    """
    webhook_files = sorted((Path(data_dir) / "webhooks").glob("events-*.jsonl"))
    if not webhook_files:
        raise FileNotFoundError(f"no webhook files in {Path(data_dir) / 'webhooks'}: run `msgmetrics generate` first")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.parquet"):
        stale.unlink()
    loaded_at = datetime.now(timezone.utc).isoformat()
    parts = []
    with EventReader(loaded_at) as reader:  # the lines the webhook loader keeps: the first copy of each event
        for batch, path in enumerate(webhook_files):
            reader.scan([path], [path.name])
            for events in reader.events():
                parts.append(pa.Table.from_batches([events]).append_column(
                    "batch", pa.array([batch] * events.num_rows, pa.int64())))
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.register("webhook_events", pa.concat_tables(parts))
        con.execute(_EVENTS_SQL)
        if not workspace_id.isdigit():
            raise ValueError(f"workspace_id must be digits, got {workspace_id!r}")
        con.execute(_ROWS_SQL.replace("$workspace", f"'{workspace_id}'")
                    .replace("$last_batch", str(len(webhook_files) - 1)))
        # sequence numbers: by batch, then file type, then the older version first
        keys = " union all ".join(f"select batch, {n} as type_rank, version_rank, sort_key, '{t}' as type from {t}"
                                  for n, t in enumerate(TYPES))
        con.execute(f"""
            create table seqs as
            select *, {FIRST_SEQ - 1} + row_number() over (order by batch, type_rank, version_rank, sort_key) as seq_num
            from ({keys})
        """)
        summary = {}
        for type_name in TYPES:
            batches = con.execute(f"""
                select batch, min(seq_num) from seqs where type = '{type_name}' group by batch order by batch
            """).fetchall()
            for batch, file_seq in batches:
                name = f"{type_name}_v{SCHEMA_VERSION}_{workspace_id}_{file_seq}.parquet"
                target = str(out / name).replace("'", "''")
                con.execute(f"""
                    copy (
                        select t.* exclude (batch, version_rank, sort_key), s.seq_num
                        from {type_name} t
                        join seqs s on s.type = '{type_name}' and s.batch = t.batch
                            and s.version_rank = t.version_rank and s.sort_key = t.sort_key
                        where t.batch = {batch}
                        order by s.seq_num
                    ) to '{target}' (format parquet)
                """)
            rows = con.execute(f"select count(*) from {type_name}").fetchall()[0][0]
            summary[type_name] = {"rows": rows, "files": len(batches)}
        return summary
    finally:
        con.close()
