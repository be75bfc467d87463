{#- A Jinja list as a SQL list of string literals: ['a', 'b'] -> ('a', 'b'). -#}
{% macro sql_list(values) -%}
    ({%- for v in values -%}{{ dbt.string_literal(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{#- A cohort setting from its var, failing the build with a clear error when absent. -#}
{% macro cohort_setting(cohort, key) -%}
    {%- set settings = var('cohort_' ~ cohort, {}) -%}
    {%- if key not in settings -%}
        {{ exceptions.raise_compiler_error("var cohort_" ~ cohort ~ " needs '" ~ key ~ "' (see dbt_project.yml)") }}
    {%- endif -%}
    {{ return(settings[key]) }}
{%- endmacro %}

{#- A 64-bit float (dbt.type_float() is 32-bit on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'msgmetrics')()) }}
{%- endmacro %}
{% macro default__type_double() -%}double precision{%- endmacro %}
{% macro bigquery__type_double() -%}float64{%- endmacro %}
