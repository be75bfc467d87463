{#- The `as_of` moment as a UTC timestamp literal: var('as_of') (dbt run by hand), else
    $MSGMETRICS_AS_OF (what `msgmetrics build --as-of` sets), ISO-8601 with or without offset (no
    offset = UTC); neither = when this dbt invocation started, so every model of one run sees
    the same instant. The environment variable is read at execution only: dbt re-parses the
    whole project when --vars change, and the files that read an env_var while parsing when
    it changes, which a scheduled build moving as_of every hour would pay each time. -#}
{% macro as_of_timestamp() -%}
    {%- set raw = var('as_of', none) -%}
    {%- if (raw is none or raw == '') and execute -%}
        {%- set raw = env_var('MSGMETRICS_AS_OF', '') -%}
    {%- endif -%}
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
