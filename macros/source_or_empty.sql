{#- The source table, or an empty relation with the given columns when it has not
    been loaded yet (e.g. no orders file yet), so `dbt build` still runs. `columns`
    maps column name -> SQL type. In a unit test the source is the test's fixture (a CTE
    with no schema), used as it is. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and relation.schema is not none
          and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ log("source " ~ source_name ~ "." ~ table_name ~ " is not loaded yet: treating it as empty", info=true) }}
        {#- a subquery, so a model may append its own `where` (an incremental filter) -#}
        select * from (
            select
            {%- for name, type in columns.items() %}
                cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
            where 1 = 0
        ) as not_loaded_yet
    {%- else -%}
        select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
