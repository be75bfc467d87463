{#- Fails for each combination of `columns` that appears more than once
    (dbt_utils.unique_combination_of_columns, which we cannot install). With `loaded_at_column`,
    an incremental build checks only the combinations of the rows loaded since the last check
    (see checked_since.sql). -#}
{% test unique_combination(model, columns, loaded_at_column=none) %}
{%- set after = checked_after() if loaded_at_column else none -%}
{{ adapter.dispatch('test_unique_combination', 'msgmetrics')(model, columns, loaded_at_column, after) }}
{% endtest %}

{% macro default__test_unique_combination(model, columns, loaded_at_column=none, after=none) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }} as checked
{%- if after is not none %}
where exists (
    select 1 from {{ model }} as written
    where written.{{ loaded_at_column }} > {{ after }}
    {%- for column in columns %}
        and written.{{ column }} is not distinct from checked.{{ column }}
    {%- endfor %}
)
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endmacro %}

{#- DuckDB: the same rows, found faster (see duplicate_hashes). -#}
{% macro duckdb__test_unique_combination(model, columns, loaded_at_column=none, after=none) %}
{%- set key = columns | join(', ') %}
select {{ key }}, count(*) as occurrences
from {{ model }}
{%- if after is none %}
where hash({{ key }}) in ({{ duplicate_hashes(model, key) }})
{%- else %}
where hash({{ key }}) in (select hash({{ key }}) from {{ model }} where {{ loaded_at_column }} > {{ after }})
{%- endif %}
group by {{ key }}
having count(*) > 1
{% endmacro %}

{#- dbt's `unique` on DuckDB: the same rows as dbt's default__test_unique, found faster. -#}
{% macro duckdb__test_unique(model, column_name) %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
    and hash({{ column_name }}) in ({{ duplicate_hashes(model, column_name, 'where ' ~ column_name ~ ' is not null') }})
group by {{ column_name }}
having count(*) > 1
{% endmacro %}

{#- The 64-bit hashes of `key` (DuckDB's hash() of one or more columns) that occur more than
    once. Grouping 10M random string ids on their hash takes about half the time of grouping
    the strings (fct_message_events.event_id 3.1 -> 2.0 s, stg 3.4 -> 1.4 s, delivery_days'
    six-column key 1.5 -> 0.6 s), and only the rows whose hash repeats are then grouped exactly,
    so a hash collision costs a second look, never a wrong answer. -#}
{% macro duplicate_hashes(model, key, where='') %}
    select hash({{ key }}) from {{ model }} {{ where }} group by 1 having count(*) > 1
{%- endmacro %}
