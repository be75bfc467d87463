-- Data Warehouse Sync deliveries (one message sent to one person), the latest version
-- (highest seq_num) per delivery_id. Incremental on the load time; an older version
-- loaded late never replaces a newer one.
{{ config(materialized='incremental', unique_key='delivery_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ customerio_dw_latest('deliveries', 'delivery_id', {
        'workspace_id': dbt.type_string(), 'delivery_id': dbt.type_string(),
        'internal_customer_id': dbt.type_string(), 'subject_id': dbt.type_string(),
        'event_id': dbt.type_string(), 'delivery_type': dbt.type_string(), 'campaign_id': dbt.type_string(),
        'action_id': dbt.type_string(), 'newsletter_id': dbt.type_string(), 'content_id': dbt.type_string(),
        'trigger_id': dbt.type_string(), 'created_at': 'timestamp with time zone',
        'transactional_message_id': dbt.type_string(), 'seq_num': dbt.type_bigint()}) }}

),

renamed as (

    select
        ---------- ids
        delivery_id,
        -- internal_customer_id is taken to be the person's cio_id (customerio-formats §4: probable, unverified)
        nullif(internal_customer_id, '') as cio_id,
        workspace_id,

        ---------- what was sent
        delivery_type,
        {{ normalize_channel('delivery_type') }} as channel,
        campaign_id,
        action_id,
        newsletter_id,
        content_id,
        trigger_id,
        transactional_message_id,
        subject_id as journey_id,
        event_id as trigger_event_id,
        {{ to_utc_timestamp('created_at') }} as created_at,

        ---------- lineage
        _version as seq_num,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from source

),

final as (

    {{ customerio_dw_not_older('renamed', 'delivery_id') }}

)

select * from final
