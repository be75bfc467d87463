-- Every cohort of the registry (var cohorts in dbt_project.yml) at as_of: one CTE per
-- cohort rendered by its shape's macro (macros/cohorts.sql), combinations after the
-- cohorts they combine. Adding a cohort of a known shape is a registry entry, no SQL.
-- A table: computed once per build, then read by cohort_membership and the tests.
{{ config(materialized='table') }}
{%- set cohorts = cohort_registry() %}
with

-- referenced by every cohort below, so computed once (DuckDB and PostgreSQL materialize a CTE
-- referenced more than once): int_cohorts__signals is a view read only here
signals as (

    select * from {{ ref('int_cohorts__signals') }}

),
{%- for cohort in cohorts %}

cohort__{{ cohort['name'] }} as (

    {{ cohort_select(cohort) | indent(4) }}

),
{%- endfor %}

final as (

    {%- for cohort in cohorts %}
    select cohort_name, person_key, reason, qualifying_event_at from cohort__{{ cohort['name'] }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from final
