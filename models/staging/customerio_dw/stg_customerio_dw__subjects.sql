-- Data Warehouse Sync subjects: one journey of one person through a campaign or an
-- API-triggered broadcast, the latest version per subject_name.
{{ config(materialized='incremental', unique_key='subject_name', on_schema_change='append_new_columns') }}

with

source as (

    {{ customerio_dw_latest('subjects', 'subject_name', {
        'workspace_id': dbt.type_string(), 'subject_name': dbt.type_string(),
        'internal_customer_id': dbt.type_string(), 'campaign_type': dbt.type_string(),
        'campaign_id': dbt.type_string(), 'event_id': dbt.type_string(), 'trigger_id': dbt.type_string(),
        'started_campaign_at': 'timestamp with time zone', 'created_at': 'timestamp with time zone',
        'seq_num': dbt.type_bigint()}) }}

),

renamed as (

    select
        ---------- ids
        subject_name,
        nullif(internal_customer_id, '') as cio_id,
        workspace_id,

        ---------- the journey
        lower(campaign_type) as campaign_type,
        campaign_id,
        trigger_id,
        event_id as trigger_event_id,
        {{ to_utc_timestamp('started_campaign_at') }} as started_campaign_at,
        {{ to_utc_timestamp('created_at') }} as created_at,

        ---------- lineage
        _version as seq_num,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from source

),

final as (

    {{ customerio_dw_not_older('renamed', 'subject_name') }}

)

select * from final
