{#- Data tests of incremental models that look at what a build wrote, not the whole table again.

    An incremental build leaves the rows that no load since the last checked build touched as
    they were when that build's tests passed; the rows it wrote carry a load time after that
    build's start (loads and builds take the warehouse's writer lock in turn). So a key can only
    repeat if one of its rows has such a load time, and a row can only have turned null if it
    has one: checking the keys of those rows against the whole table finds every duplicate a
    whole-table test would (0.3 s instead of 2.4 s for fct_message_events.event_id at 10M
    events). `msgmetrics build` sets the time (build_plan.Plan.checked_after) only when the
    last whole-graph build on the warehouse succeeded with the same code; otherwise (a full
    refresh, other code or vars, no recorded build, dbt run by hand) these are the whole-table
    tests. -#}

{#- The load time after which the tests look, or none for the whole table. Read at execution
    only: an env_var read while parsing would make dbt re-parse whenever it changes. -#}
{% macro checked_after() %}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set value = env_var('MSGMETRICS_CHECKED_AFTER', '') -%}
    {%- if value == '' -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?', value) -%}
        {{- exceptions.raise_compiler_error("MSGMETRICS_CHECKED_AFTER=" ~ value ~ " is not a UTC time "
            ~ "'YYYY-MM-DD HH:MM:SS[.ffffff]'; unset it and the data tests check whole tables") -}}
    {%- endif -%}
    {{- return("cast('" ~ value ~ "' as " ~ dbt.type_timestamp() ~ ")") -}}
{% endmacro %}

{#- dbt's `unique`, on an incremental build the keys of the rows loaded since the last check. -#}
{% test incremental_unique(model, column_name, loaded_at_column) %}
{%- set after = checked_after() -%}
{%- if after is none -%}
{{ adapter.dispatch('test_unique', 'dbt')(model, column_name) }}
{%- else -%}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }} where {{ loaded_at_column }} > {{ after }}
)
group by {{ column_name }}
having count(*) > 1
{%- endif -%}
{% endtest %}

{#- dbt's `not_null`, on an incremental build the rows loaded since the last check. -#}
{% test incremental_not_null(model, column_name, loaded_at_column) %}
{%- set after = checked_after() -%}
{%- if after is none -%}
{{ adapter.dispatch('test_not_null', 'dbt')(model, column_name) }}
{%- else -%}
select * from {{ model }} where {{ column_name }} is null and {{ loaded_at_column }} > {{ after }}
{%- endif -%}
{% endtest %}
