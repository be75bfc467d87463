-- Every cohort of the registry (var cohorts in dbt_project.yml) at as_of: one CTE per
-- cohort rendered by its shape's macro (macros/cohorts.sql), combinations after the
-- cohorts they combine. Adding a cohort of a known shape is a registry entry, no SQL.
-- Incremental per person: a person's rows depend only on their own signals, as_of and the
-- rules, so an incremental build recomputes the people whose int_cohorts__person_states row
-- is newer than the newest state_built_at here (the states this model has not yet followed)
-- and replaces all their rows (delete+insert on person_key). Each of them also gets a row
-- without a cohort, so that a person who left every cohort has their old rows deleted too;
-- the post-hook drops those rows. A full build computes everyone.
{{ config(
    materialized='incremental',
    unique_key='person_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook="delete from {{ this }} where cohort_name is null"
) }}
{%- set cohorts = cohort_registry() %}
{#- an incremental run on a table of before the per-person states (no state_built_at) redoes
    everyone, and deletes the rows of people who are no longer anywhere -#}
{%- set per_person = is_incremental() and stored_table_has_column('state_built_at') %}
-- depends_on: {{ ref('int_cohorts__person_states') }}
with

{% if per_person %}
recomputed_people as (

    select person_key, state_built_at from {{ ref('int_cohorts__person_states') }}
    where state_built_at > (select {{ loaded_at_watermark('state_built_at') }} from {{ this }})

),

-- referenced by every cohort below, so computed once (DuckDB and PostgreSQL materialize a CTE
-- referenced more than once): int_cohorts__signals is a view, read here and by the states
signals as (

    select * from {{ ref('int_cohorts__signals') }}
    where person_key in (select person_key from recomputed_people)

),
{% else %}
signals as (

    select * from {{ ref('int_cohorts__signals') }}

),
{%- if is_incremental() %}

recomputed_people as (

    select person_key from {{ ref('int_cohorts__person_states') }}
    union
    select person_key from {{ this }}

),
{%- endif %}
{% endif %}
{%- for cohort in cohorts %}

cohort__{{ cohort['name'] }} as (

    {{ cohort_select(cohort) | indent(4) }}

),
{%- endfor %}

members as (

    {%- for cohort in cohorts %}
    select cohort_name, person_key, reason, qualifying_event_at from cohort__{{ cohort['name'] }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if is_incremental() %}
    union all
    -- the row without a cohort of every person recomputed (dropped by the post-hook)
    select
        cast(null as {{ dbt.type_string() }}) as cohort_name,
        person_key,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_timestamp() }}) as qualifying_event_at
    from recomputed_people
    {%- endif %}

),

final as (

    select
        members.cohort_name,
        members.person_key,
        members.reason,
        members.qualifying_event_at,
        {%- if per_person %}
        recomputed_people.state_built_at
        {%- else %}
        -- every person is computed from the states this build has
        (select max(state_built_at) from {{ ref('int_cohorts__person_states') }}) as state_built_at
        {%- endif %}
    from members
    {%- if per_person %}
    inner join recomputed_people on recomputed_people.person_key = members.person_key
    {%- endif %}

)

select * from final
