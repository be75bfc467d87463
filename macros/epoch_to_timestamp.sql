{#- Unix seconds (integer) to a UTC timestamp without time zone. -#}
{% macro epoch_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'msgmetrics')(column)) }}
{%- endmacro %}

{% macro default__epoch_to_timestamp(column) -%}
    {{ dbt.dateadd('second', column, "cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{% macro duckdb__epoch_to_timestamp(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000000)
{%- endmacro %}

{% macro postgres__epoch_to_timestamp(column) -%}
    (to_timestamp({{ column }}) at time zone 'UTC')
{%- endmacro %}

{#- A timestamp with time zone (as dlt writes it) to a UTC timestamp without one. -#}
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'msgmetrics')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    cast({{ column }} at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{#- A UTC timestamp without time zone to a timestamp with time zone (the same instant). -#}
{% macro utc_to_timestamptz(expression) -%}
    {{ return(adapter.dispatch('utc_to_timestamptz', 'msgmetrics')(expression)) }}
{%- endmacro %}

{% macro default__utc_to_timestamptz(expression) -%}
    (({{ expression }}) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__utc_to_timestamptz(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}
