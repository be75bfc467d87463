-- What share of people and of message events resolve to an Amplitude user id,
-- and why the rest do not. One row per measure (people | events) and outcome.
with

identity as (

    select * from {{ ref('xref_user_identity') }}

),

-- events per person first: the outcome is the person's, so it is decided once per person
-- rather than once per event
events as (

    select person_key, count(*) as events
    from {{ ref('fct_message_events') }}
    group by person_key

),

people_outcomes as (

    select
        'people' as measure,
        amplitude_user_id is not null as is_resolved,
        coalesce(unresolved_reason, {{ dbt.concat(["'resolved by '", 'match_method']) }}) as outcome,
        count(*) as n
    from identity
    group by 1, 2, 3

),

event_outcomes as (

    select
        'events' as measure,
        identity.amplitude_user_id is not null as is_resolved,
        case
            when events.person_key is null then 'event carries no person identifiers'
            else coalesce(identity.unresolved_reason, {{ dbt.concat(["'resolved by '", 'identity.match_method']) }})
        end as outcome,
        cast(sum(events.events) as {{ dbt.type_bigint() }}) as n
    from events
    left join identity on identity.person_key = events.person_key
    group by 1, 2, 3

),

unioned as (

    select * from people_outcomes
    union all
    select * from event_outcomes

),

final as (

    select
        measure,
        outcome,
        is_resolved,
        n,
        cast(n as {{ type_double() }}) / sum(n) over (partition by measure) as share
    from unioned

)

select * from final
