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
    {{ json_text_to_bool(json_text(column, path)) }}
{%- endmacro %}

{#- Several text fields of one JSON text column, parsed once per row. Select
    `json_texts(column, paths)` once (in a CTE), then read each field from it with
    `json_texts_item(that, paths, path)`; `paths` is the list of key lists, `path` one of
    them. DuckDB: json_extract_string with a list of paths (one parse, a list of texts);
    PostgreSQL: one jsonb cast; elsewhere the column itself, read per field with json_text. -#}
{% macro json_texts(column, paths) -%}
    {{ return(adapter.dispatch('json_texts', 'msgmetrics')(column, paths)) }}
{%- endmacro %}

{% macro default__json_texts(column, paths) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__json_texts(column, paths) -%}
    json_extract_string({{ column }}, [
        {%- for path in paths %}'$.{{ path | join(".") }}'{{ ", " if not loop.last }}{% endfor -%}
    ])
{%- endmacro %}

{% macro postgres__json_texts(column, paths) -%}
    cast({{ column }} as jsonb)
{%- endmacro %}

{% macro json_texts_item(parsed, paths, path) -%}
    {%- if path not in paths -%}
        {{ exceptions.raise_compiler_error("json_texts_item: " ~ path ~ " is not one of the parsed paths") }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_texts_item', 'msgmetrics')(parsed, paths, path)) }}
{%- endmacro %}

{% macro default__json_texts_item(parsed, paths, path) -%}
    {{ json_text(parsed, path) }}
{%- endmacro %}

{% macro duckdb__json_texts_item(parsed, paths, path) -%}
    {{ parsed }}[{{ paths.index(path) + 1 }}]
{%- endmacro %}

{% macro postgres__json_texts_item(parsed, paths, path) -%}
    ({{ parsed }} #>> '{ {{- path | join(",") -}} }')
{%- endmacro %}

{#- A JSON boolean's text ('true'/'false', any case) as a boolean (null otherwise). -#}
{% macro json_text_to_bool(text) -%}
    case lower({{ text }}) when 'true' then true when 'false' then false end
{%- endmacro %}
