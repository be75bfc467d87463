-- Cohort sizes per day: for each UTC day a build was made for (its as_of date), each
-- cohort's size at the latest as_of of that day, with the entries and exits
-- cohort_membership_history recorded that day. Kept across rebuilds (incremental,
-- full_refresh=false); a build for an earlier as_of fills (or refreshes) its own day, so
-- `msgmetrics build --as-of D` for past days backfills the series.
{{ config(
    materialized='incremental',
    unique_key='cohort_size_key',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

with

cohorts as (

    select * from {{ ref('dim_cohorts') }}

),

membership as (

    select * from {{ ref('cohort_membership') }}

),

history as (

    select * from {{ ref('cohort_membership_history') }}

),

build as (

    select *, cast(as_of as date) as day from {{ ref('int_cohorts__data_freshness') }}

),

sizes as (

    select
        cohort_name,
        count(*) as members,
        count(amplitude_user_id) as members_with_amplitude_id
    from membership
    group by cohort_name

),

entries as (

    select cohort_name, count(*) as entered
    from history
    cross join build
    where cast(history.entered_at as date) = build.day
    group by cohort_name

),

exits as (

    select cohort_name, count(*) as exited
    from history
    cross join build
    where cast(history.exited_at as date) = build.day
    group by cohort_name

),

final as (

    select
        {{ dbt.hash(dbt.concat([dbt.cast('build.day', dbt.type_string()), "'|'", 'cohorts.cohort_name'])) }} as cohort_size_key,
        build.day,
        cohorts.cohort_name,
        coalesce(sizes.members, 0) as members,
        coalesce(sizes.members_with_amplitude_id, 0) as members_with_amplitude_id,
        coalesce(entries.entered, 0) as entered,
        coalesce(exits.exited, 0) as exited,
        build.as_of,
        build.data_through,
        build.computed_at
    from cohorts
    cross join build
    left join sizes on sizes.cohort_name = cohorts.cohort_name
    left join entries on entries.cohort_name = cohorts.cohort_name
    left join exits on exits.cohort_name = cohorts.cohort_name
    {%- if is_incremental() %}
    -- a later as_of of the same day already recorded wins over this one
    where not exists (
        select 1 from {{ this }} as recorded
        where recorded.day = build.day and recorded.as_of > build.as_of
    )
    {%- endif %}

)

select * from final
