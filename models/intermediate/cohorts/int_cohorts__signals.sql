-- The signals of int_cohorts__signal_occurrences with the intent of their message
-- (dim_message_intents; null when unknown or not a message): what the cohort rules read.
-- A view (as_of and the current intents apply to every row): int_cohorts__members reads it
-- once, through a CTE that every cohort references, which DuckDB and PostgreSQL compute once.
-- Storing it as a table cost more than computing it (5M rows at 10M events).

with

occurrences as (

    select * from {{ ref('int_cohorts__signal_occurrences') }}

),

intents as (

    select * from {{ ref('dim_message_intents') }}

),

final as (

    select
        occurrences.person_key,
        occurrences.signal,
        occurrences.channel,
        intents.intent,
        occurrences.occurred_at,
        occurrences.count_key,
        occurrences.delivery_id,
        occurrences.parent_type,
        occurrences.parent_id
    from occurrences
    left join intents
        on intents.parent_type = occurrences.parent_type
        and intents.parent_id = occurrences.parent_id
        and {{ equal_or_both_null('intents.action_id', 'occurrences.action_id') }}
        and {{ equal_or_both_null('intents.content_id', 'occurrences.content_id') }}

)

select * from final
