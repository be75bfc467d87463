-- What share of people and of message events resolve to an Amplitude user id,
-- and why the rest do not. One row per measure (people | events) and outcome.
with

identity as (

    select * from {{ ref('xref_user_identity') }}

),

events as (

    select person_key from {{ ref('fct_message_events') }}

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
        count(*) as n
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
