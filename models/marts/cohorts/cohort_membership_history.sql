-- Membership spells: when each person entered each cohort and when they left, as seen by
-- the builds. A build with a later as_of than any before it closes the spells of people
-- no longer in a cohort (exited_at = that as_of), extends the ones still in
-- (last_observed_at) and opens a spell for each new member (entered_at = that as_of). A
-- build with the same or an earlier as_of changes nothing, so rebuilds and backfills
-- never rewrite history. Never full-refreshed (full_refresh=false): `build --full-refresh`
-- keeps it; drop the table by hand to start over.
{{ config(
    materialized='incremental',
    unique_key='cohort_history_key',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

with

current_members as (

    select * from {{ ref('cohort_membership') }}

),

build as (

    select * from {{ ref('int_cohorts__data_freshness') }}

),

{%- if is_incremental() %}

previous as (

    select * from {{ this }}

),

watermark as (

    select max(last_observed_at) as observed_through from previous

),

open_spells as (

    select * from previous where exited_at is null

),

continuing as (

    select
        open_spells.cohort_history_key,
        open_spells.cohort_name,
        open_spells.person_key,
        open_spells.entered_at,
        cast(null as {{ dbt.type_timestamp() }}) as exited_at,
        build.as_of as last_observed_at,
        open_spells.entry_reason,
        open_spells.entry_qualifying_event_at,
        build.computed_at
    from open_spells
    cross join build
    inner join current_members
        on current_members.cohort_name = open_spells.cohort_name
        and current_members.person_key = open_spells.person_key

),

exits as (

    select
        open_spells.cohort_history_key,
        open_spells.cohort_name,
        open_spells.person_key,
        open_spells.entered_at,
        build.as_of as exited_at,
        open_spells.last_observed_at,
        open_spells.entry_reason,
        open_spells.entry_qualifying_event_at,
        build.computed_at
    from open_spells
    cross join build
    where not exists (
        select 1 from current_members
        where current_members.cohort_name = open_spells.cohort_name
            and current_members.person_key = open_spells.person_key
    )

),

{%- endif %}

entries as (

    select
        {{ dbt.hash(dbt.concat(['current_members.cohort_name', "'|'", 'current_members.person_key', "'|'",
            dbt.cast('build.as_of', dbt.type_string())])) }} as cohort_history_key,
        current_members.cohort_name,
        current_members.person_key,
        build.as_of as entered_at,
        cast(null as {{ dbt.type_timestamp() }}) as exited_at,
        build.as_of as last_observed_at,
        current_members.reason as entry_reason,
        current_members.qualifying_event_at as entry_qualifying_event_at,
        build.computed_at
    from current_members
    cross join build
    {%- if is_incremental() %}
    where not exists (
        select 1 from open_spells
        where open_spells.cohort_name = current_members.cohort_name
            and open_spells.person_key = current_members.person_key
    )
    {%- endif %}

),

changes as (

    select * from entries
    {%- if is_incremental() %}
    union all
    select * from continuing
    union all
    select * from exits
    {%- endif %}

),

final as (

    select changes.*
    from changes
    {%- if is_incremental() %}
    cross join build
    cross join watermark
    -- only a build that moves as_of forward writes history
    where watermark.observed_through is null or build.as_of > watermark.observed_through
    {%- endif %}

)

select * from final
