-- Everything a cohort rule can count, one row per occurrence up to as_of, before the intent
-- of its message is known: human clicks (not machine-flagged), human opens (not prefetched),
-- deliveries, unsubscribes and Customer.io conversions from fct_message_events, and purchases
-- from fct_purchases, each with its channel and the keys of its message (for a purchase, of
-- the message its conversion is attributed to).
-- count_key is what "N of them" counts: the delivery for deliveries, else the event or
-- purchase. A view (as_of applies to every row). int_cohorts__person_states fingerprints
-- these rows, so it need not wait for dim_message_intents (which waits for the delivery facts
-- and dim_messages); int_cohorts__signals adds the intents for the rules.

with

events as (

    select * from {{ ref('fct_message_events') }}
    where person_key is not null
        and occurred_at <= {{ as_of_timestamp() }}
        and (is_human_click or is_human_open or metric in ('delivered', 'unsubscribed', 'converted'))

),

purchases as (

    select * from {{ ref('fct_purchases') }}
    where person_key is not null
        and purchased_at <= {{ as_of_timestamp() }}

),

message_signals as (

    select
        events.person_key,
        case
            when events.is_human_click then 'human_click'
            when events.is_human_open then 'human_open'
            when events.metric = 'delivered' then 'delivery'
            when events.metric = 'unsubscribed' then 'unsubscribe'
            when events.metric = 'converted' then 'conversion'
        end as signal,
        events.channel,
        events.occurred_at,
        case when events.metric = 'delivered' then coalesce(events.delivery_id, events.event_id) else events.event_id end as count_key,
        events.delivery_id,
        events.parent_type,
        events.parent_id,
        events.action_id,
        events.content_id
    from events

),

purchase_signals as (

    select
        purchases.person_key,
        'purchase' as signal,
        purchases.attributed_channel as channel,
        purchases.purchased_at as occurred_at,
        purchases.purchase_id as count_key,
        purchases.attributed_delivery_id as delivery_id,
        purchases.attributed_parent_type as parent_type,
        purchases.attributed_parent_id as parent_id,
        purchases.attributed_action_id as action_id,
        purchases.attributed_content_id as content_id
    from purchases

),

final as (

    select * from message_signals
    union all
    select * from purchase_signals

)

select * from final
