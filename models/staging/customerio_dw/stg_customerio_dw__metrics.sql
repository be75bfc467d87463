-- Data Warehouse Sync metrics (one row per thing that happened to a delivery: sent,
-- delivered, opened, clicked, ...), the latest version per event_id.
{{ config(materialized='incremental', unique_key='event_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ customerio_dw_latest('metrics', 'event_id', {
        'event_id': dbt.type_string(), 'workspace_id': dbt.type_string(), 'delivery_id': dbt.type_string(),
        'metric': dbt.type_string(), 'reason': dbt.type_string(), 'link_id': dbt.type_string(),
        'link_url': dbt.type_string(), 'created_at': 'timestamp with time zone', 'seq_num': dbt.type_bigint(),
        'proxied': dbt.type_boolean(), 'prefetched': dbt.type_boolean(), 'machine': dbt.type_boolean(),
        'user_agent': dbt.type_string(), 'email_client': dbt.type_string(), 'inbox_domain': dbt.type_string(),
        'inbox_provider': dbt.type_string(), 'mx_host': dbt.type_string()}) }}

),

renamed as (

    select
        ---------- ids
        event_id,
        delivery_id,
        workspace_id,

        ---------- what happened
        metric,
        {{ to_utc_timestamp('created_at') }} as occurred_at,
        reason as failure_message,
        link_id,
        link_url as href,

        ---------- engagement quality (null in files from before Customer.io added them)
        proxied as is_proxied,
        prefetched as is_prefetched,
        machine as is_machine,
        user_agent,
        email_client,
        inbox_domain,
        inbox_provider,
        mx_host,

        ---------- lineage
        _version as seq_num,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from source

),

final as (

    {{ customerio_dw_not_older('renamed', 'event_id') }}

)

select * from final
