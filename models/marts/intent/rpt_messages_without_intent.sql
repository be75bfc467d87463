-- Messages no mapping row and no name pattern gives an intent, busiest first, so a new
-- campaign or a renamed one (naming drift) is visible before cohorts silently miss it.
-- Fix: add a row to the seed message_intents or a pattern to message_intent_patterns.
with

intents as (

    select * from {{ ref('dim_message_intents') }}

),

deliveries as (

    select * from {{ ref('fct_message_deliveries') }}

),

volume as (

    select
        parent_type,
        parent_id,
        action_id,
        content_id,
        count(*) as deliveries,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at
    from deliveries
    group by parent_type, parent_id, action_id, content_id

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
        coalesce(volume.deliveries, 0) as deliveries,
        volume.first_seen_at,
        volume.last_seen_at
    from intents
    left join volume
        on volume.parent_type = intents.parent_type
        and volume.parent_id = intents.parent_id
        and {{ equal_or_both_null('volume.action_id', 'intents.action_id') }}
        and {{ equal_or_both_null('volume.content_id', 'intents.content_id') }}
    where intents.intent is null

)

select * from final
