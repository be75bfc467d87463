{#- A Jinja list as a SQL list of string literals: ['a', 'b'] -> ('a', 'b'). -#}
{% macro sql_list(values) -%}
    ({%- for v in values -%}{{ dbt.string_literal(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{#- A 64-bit float (dbt.type_float() is 32-bit on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'msgmetrics')()) }}
{%- endmacro %}
{% macro default__type_double() -%}double precision{%- endmacro %}
{% macro bigquery__type_double() -%}float64{%- endmacro %}

{#- a = b for two text ids, two nulls counting as equal (portable and hash-joinable,
    unlike `a = b or (a is null and b is null)`; ids are never ''). -#}
{% macro equal_or_both_null(a, b) -%}
    coalesce({{ a }}, '') = coalesce({{ b }}, '')
{%- endmacro %}

{#- Any text as a SQL string literal, quotes doubled (dbt.string_literal does not escape). -#}
{% macro sql_text(value) -%}
    '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}
