-- Everything a cohort rule can count, one row per occurrence up to as_of: human clicks
-- (not machine-flagged), human opens (not prefetched), deliveries, unsubscribes and
-- Customer.io conversions from fct_message_events, and purchases from fct_purchases, each
-- with its channel and the intent of its message (dim_message_intents). The events are read
-- from fct_message_events itself, not from an incremental copy of its signal metrics: at 10M
-- events the copy's delete and commit took 3.6 s of an incremental build, and the two reads
-- of 10M rows instead of 6M take about 0.3 s more (docs/decisions.md).
-- count_key is what "N of them" counts: the delivery for deliveries, else the event or
-- purchase. A view (as_of and the current intents apply to every row): int_cohorts__members
-- reads it once, through a CTE that every cohort references, which DuckDB and PostgreSQL
-- compute once. Storing it as a table cost more than computing it (5M rows at 10M events).

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

intents as (

    select * from {{ ref('dim_message_intents') }}

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
        intents.intent,
        events.occurred_at,
        case when events.metric = 'delivered' then coalesce(events.delivery_id, events.event_id) else events.event_id end as count_key,
        events.delivery_id,
        events.parent_type,
        events.parent_id
    from events
    left join intents
        on intents.parent_type = events.parent_type
        and intents.parent_id = events.parent_id
        and {{ equal_or_both_null('intents.action_id', 'events.action_id') }}
        and {{ equal_or_both_null('intents.content_id', 'events.content_id') }}

),

purchase_signals as (

    select
        purchases.person_key,
        'purchase' as signal,
        purchases.attributed_channel as channel,
        intents.intent,
        purchases.purchased_at as occurred_at,
        purchases.purchase_id as count_key,
        purchases.attributed_delivery_id as delivery_id,
        purchases.attributed_parent_type as parent_type,
        purchases.attributed_parent_id as parent_id
    from purchases
    left join intents
        on intents.parent_type = purchases.attributed_parent_type
        and intents.parent_id = purchases.attributed_parent_id
        and {{ equal_or_both_null('intents.action_id', 'purchases.attributed_action_id') }}
        and {{ equal_or_both_null('intents.content_id', 'purchases.attributed_content_id') }}

),

final as (

    select * from message_signals
    union all
    select * from purchase_signals

)

select * from final
