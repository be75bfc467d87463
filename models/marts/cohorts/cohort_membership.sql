-- Who is in which cohort at as_of, why, and the Amplitude user id to push to (null when
-- the person's identity does not resolve: such rows are never pushed). Cohorts come from
-- the registry (dim_cohorts); amplitude_property is null for cohorts that are not pushed.
with

members as (

    select * from {{ ref('int_cohorts__members') }}

),

cohorts as (

    select * from {{ ref('dim_cohorts') }}

),

identity as (

    select * from {{ ref('xref_user_identity') }}

),

freshness as (

    select * from {{ ref('int_cohorts__data_freshness') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['members.cohort_name', "'|'", 'members.person_key'])) }} as cohort_membership_key,
        cast(members.cohort_name as {{ dbt.type_string() }}) as cohort_name,
        members.person_key,
        identity.cio_id,
        identity.customer_id,
        identity.amplitude_user_id,
        cohorts.amplitude_property,
        cast(members.reason as {{ dbt.type_string() }}) as reason,
        members.qualifying_event_at,
        freshness.as_of,
        freshness.data_through,
        freshness.computed_at
    from members
    inner join cohorts on cohorts.cohort_name = members.cohort_name
    cross join freshness
    left join identity on identity.person_key = members.person_key

)

select * from final
