-- Data Warehouse Sync people: the person's ids and compliance flags, the latest version
-- per internal_customer_id (taken to be the cio_id).
{{ config(materialized='incremental', unique_key='cio_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ customerio_dw_latest('people', 'internal_customer_id', {
        'workspace_id': dbt.type_string(), 'customer_id': dbt.type_string(),
        'internal_customer_id': dbt.type_string(), 'deleted': dbt.type_boolean(),
        'suppressed': dbt.type_boolean(), 'created_at': 'timestamp with time zone',
        'updated_at': 'timestamp with time zone', 'email_addr': dbt.type_string(), 'seq_num': dbt.type_bigint()}) }}

),

renamed as (

    select
        ---------- ids
        internal_customer_id as cio_id,
        nullif(trim(customer_id), '') as customer_id,
        lower(trim(nullif(email_addr, ''))) as email,
        workspace_id,

        ---------- state
        coalesce(deleted, false) as is_deleted,
        coalesce(suppressed, false) as is_suppressed,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _version as seq_num,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from source

),

final as (

    {{ customerio_dw_not_older('renamed', 'cio_id') }}

)

select * from final
