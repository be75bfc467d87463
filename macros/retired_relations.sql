{#- Tables and views of models this project no longer has, as (schema, name). A warehouse built
    by an earlier version still holds them, and nothing refreshes them: they would look current to
    an analyst and are not. The end of every dbt run drops the ones present (on-run-end). -#}
{% macro retired_relations() -%}
    {{ return([
        ('intermediate', 'int_cohorts__message_signals'),
    ]) }}
{%- endmacro %}

{% macro drop_retired_relations() -%}
    {%- if execute -%}
        {%- for schema, identifier in retired_relations() -%}
            {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=identifier) -%}
            {%- if relation is not none -%}
                {%- do log("dropping " ~ relation ~ ": a model of an earlier msgmetrics version, no longer built", info=true) -%}
                {%- do adapter.drop_relation(relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
