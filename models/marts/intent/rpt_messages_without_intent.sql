-- Messages no mapping row and no name pattern gives an intent, with their volume, so a new
-- campaign or a renamed one (naming drift) is visible before cohorts silently miss it.
-- Fix: add a row to the seed message_intents or a pattern to message_intent_patterns.
with

intents as (

    select * from {{ ref('dim_message_intents') }}

),

messages as (

    select * from {{ ref('dim_messages') }}

),

final as (

    select
        intents.message_key,
        intents.parent_type,
        intents.parent_id,
        intents.action_id,
        intents.content_id,
        intents.channel,
        intents.parent_name,
        intents.message_name,
        messages.deliveries,
        messages.first_seen_at,
        messages.last_seen_at
    from intents
    inner join messages on messages.message_key = intents.message_key
    where intents.intent is null

)

select * from final
