-- The cohort flags Amplitude should hold at as_of: one row per (user, property),
-- value true. The push $sets what is new here and $unsets what msgmetrics set
-- before and is no longer here.
with

membership as (

    select * from {{ ref('cohort_membership') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['amplitude_user_id', "'|'", 'cohort_name'])) }} as user_property_key,
        amplitude_user_id as user_id,
        {{ dbt.concat(["'" ~ var('amplitude_cohort_property_prefix') ~ "'", 'cohort_name']) }} as property_name,
        cohort_name,
        as_of
    from membership
    where amplitude_user_id is not null

)

select * from final
