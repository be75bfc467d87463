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

-- the build's as_of, only when it is later than any before (otherwise nothing is written,
-- and the members and open spells below are not even joined: 1.7 s at 950k members)
build as (

    select * from {{ ref('int_cohorts__data_freshness') }}
    {%- if is_incremental() %}
    where as_of > (select {{ loaded_at_watermark('last_observed_at') }} from {{ this }})
    {%- endif %}

),

current_members as (

    select * from {{ ref('cohort_membership') }}
    where exists (select 1 from build)

),

{%- if is_incremental() %}

open_spells as (

    select * from {{ this }}
    where exited_at is null and exists (select 1 from build)

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

    select * from changes

)

select * from final
