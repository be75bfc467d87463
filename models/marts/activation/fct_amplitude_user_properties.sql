-- The flags Amplitude should hold at as_of: one row per (user, property), value true,
-- for every pushed cohort a person is in and every pushed audience assigned to them.
-- The push $sets what is new here and $unsets what msgmetrics set before and is no
-- longer here; with Behavioral Cohorts configured, each cohort_name is also an Amplitude
-- cohort named property_name.
with

membership as (

    select * from {{ ref('cohort_membership') }}
    where amplitude_user_id is not null and amplitude_property is not null

),

assignments as (

    select * from {{ ref('audience_assignments') }}
    where is_assigned and amplitude_user_id is not null and amplitude_property is not null

),

flags as (

    select amplitude_user_id, amplitude_property, cohort_name, 'cohort' as source_kind, as_of
    from membership
    union all
    select amplitude_user_id, amplitude_property, audience_name as cohort_name, 'audience' as source_kind, as_of
    from assignments

),

final as (

    select
        {{ dbt.hash(dbt.concat(['amplitude_user_id', "'|'", 'cohort_name'])) }} as user_property_key,
        amplitude_user_id as user_id,
        amplitude_property as property_name,
        cohort_name,
        source_kind,
        as_of
    from flags

)

select * from final
