{#- The `as_of` moment as a UTC timestamp literal. var('as_of') accepts ISO-8601
    (with or without offset; no offset = UTC); empty = when this dbt invocation
    started, so every model of one run sees the same instant. -#}
{% macro as_of_timestamp() -%}
    {%- set raw = var('as_of', none) -%}
    {%- if raw is none or raw == '' -%}
        {%- set moment = run_started_at -%}
    {%- else -%}
        {%- set moment = modules.datetime.datetime.fromisoformat(raw | string) -%}
    {%- endif -%}
    {%- if moment.tzinfo is not none -%}
        {%- set moment = moment.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- endif -%}
    cast('{{ moment.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A half-open window (as_of - days, as_of] on a timestamp column. -#}
{% macro in_window_before_as_of(column, days) -%}
    ({{ column }} > {{ dbt.dateadd('day', -1 * days, as_of_timestamp()) }} and {{ column }} <= {{ as_of_timestamp() }})
{%- endmacro %}

{#- When this dbt invocation started (UTC): the `computed_at` of cohort rows. -#}
{% macro computed_at_timestamp() -%}
    cast('{{ run_started_at.astimezone(modules.pytz.utc).strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
