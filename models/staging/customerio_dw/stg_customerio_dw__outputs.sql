-- Data Warehouse Sync outputs: one step of a journey (a message, a delay, a split, ...),
-- the latest version per output_id.
{{ config(materialized='incremental', unique_key='output_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ customerio_dw_latest('outputs', 'output_id', {
        'workspace_id': dbt.type_string(), 'output_id': dbt.type_string(), 'subject_name': dbt.type_string(),
        'output_type': dbt.type_string(), 'action_id': dbt.type_string(), 'explanation': dbt.type_string(),
        'delivery_id': dbt.type_string(), 'draft': dbt.type_boolean(), 'link_tracked': dbt.type_boolean(),
        'split_test_index': dbt.type_bigint(), 'branch_index': dbt.type_bigint(),
        'delay_ends_at': 'timestamp with time zone', 'manual_segment_id': dbt.type_string(),
        'add_to_manual_segment': dbt.type_boolean(), 'created_at': 'timestamp with time zone',
        'seq_num': dbt.type_bigint()}) }}

),

renamed as (

    select
        ---------- ids
        output_id,
        subject_name,
        delivery_id,
        workspace_id,

        ---------- the step
        output_type,
        action_id,
        explanation,
        coalesce(draft, false) as is_draft,
        link_tracked as is_link_tracked,
        split_test_index,
        branch_index,
        {{ to_utc_timestamp('delay_ends_at') }} as delay_ends_at,
        manual_segment_id,
        add_to_manual_segment,
        {{ to_utc_timestamp('created_at') }} as created_at,

        ---------- lineage
        _version as seq_num,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from source

),

final as (

    {{ customerio_dw_not_older('renamed', 'output_id') }}

)

select * from final
