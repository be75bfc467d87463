-- The identity crosswalk: one row per Customer.io person, the Amplitude user_id
-- msgmetrics uses for them (null when unresolved, and then never pushed) and how
-- it was matched.
with

candidates as (

    select * from {{ ref('int_identity__amplitude_candidates') }}

),

final as (

    select
        person_key,
        cio_id,
        customer_id,
        email,
        case when unresolved_reason is null then candidate_user_id end as amplitude_user_id,
        case when unresolved_reason is null then identity_rule end as match_method,
        unresolved_reason,
        first_seen_at,
        last_seen_at,
        event_count
    from candidates

)

select * from final
