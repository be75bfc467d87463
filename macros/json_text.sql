{#- Text of a field inside a JSON text column; `path` is a list of keys.
    dbt has no cross-database JSON macro, so each adapter gets its own. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'msgmetrics')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path | join(".") }}')
{%- endmacro %}

{% macro postgres__json_text(column, path) -%}
    (cast({{ column }} as json) #>> '{ {{- path | join(",") -}} }')
{%- endmacro %}

{% macro snowflake__json_text(column, path) -%}
    json_extract_path_text({{ column }}, '{{ path | join(".") }}')
{%- endmacro %}

{% macro bigquery__json_text(column, path) -%}
    json_value({{ column }}, '$.{{ path | join(".") }}')
{%- endmacro %}

{#- A JSON boolean field as a boolean (null when absent). -#}
{% macro json_bool(column, path) -%}
    case lower({{ json_text(column, path) }}) when 'true' then true when 'false' then false end
{%- endmacro %}
