{#- Shared by the Data Warehouse Sync staging models (models/staging/customerio_dw).

    customerio_dw_latest(table, key, columns): the raw table's rows (an empty relation with
    `columns` plus the loader's lineage columns when it is not loaded yet), on incremental
    runs only those loaded since the model's newest `loaded_at`, one row per key: the
    highest `_version` (seq_num, or the file's sequence number when the row has none),
    then the newest load. The loader already keeps one row per key; this keeps the model
    right whatever loaded the table. -#}
{% macro customerio_dw_latest(table_name, key, columns) -%}
    {%- set lineage = {
        '_version': dbt.type_bigint(), '_source_seq': dbt.type_bigint(), '_source_file': dbt.type_string(),
        '_row_number': dbt.type_bigint(), '_loaded_at': 'timestamp with time zone'} -%}
    {%- set all_columns = {} -%}
    {%- do all_columns.update(columns) -%}
    {%- do all_columns.update(lineage) -%}
    select * from (
        select
            raw_rows.*,
            row_number() over (
                partition by {{ key }}
                order by _version desc, _loaded_at desc, _source_file desc, _row_number desc
            ) as version_rank
        from (
            {{ source_or_empty('customerio_dw', table_name, all_columns) }}
        ) as raw_rows
        {%- if is_incremental() %}
        where {{ loaded_since_last_build() }}
        {%- endif %}
    ) as ranked
    where version_rank = 1
{%- endmacro %}

{#- customerio_dw_not_older(cte, key): on incremental runs, drops rows whose key the model
    already holds with a higher seq_num (an older export loaded late never replaces a newer
    row); otherwise all of `cte`. -#}
{% macro customerio_dw_not_older(cte, key) -%}
    {%- if is_incremental() %}
    select {{ cte }}.*
    from {{ cte }}
    left join {{ this }} as built on built.{{ key }} = {{ cte }}.{{ key }}
    where built.{{ key }} is null or {{ cte }}.seq_num >= built.seq_num
    {%- else %}
    select * from {{ cte }}
    {%- endif %}
{%- endmacro %}
