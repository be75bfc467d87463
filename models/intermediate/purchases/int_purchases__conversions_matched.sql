-- Customer.io `converted` metrics paired with the order they reflect: same person,
-- at most var purchase_match_window_minutes apart, and each the other's nearest (ties:
-- lowest order_id / event_id), so a conversion and an order pair at most once. One row
-- per converted metric; order_id is null when no order pairs with it.
-- A table: fct_purchases and the tests read it (a view would be recomputed by each).
{{ config(materialized='table') }}
with

conversions as (

    select * from {{ ref('fct_message_events') }}
    where metric = 'converted' and person_key is not null

),

orders as (

    select * from {{ ref('int_purchases__orders_resolved') }}
    where person_key is not null

),

candidates as (

    select
        conversions.event_id,
        orders.order_id,
        abs({{ dbt.datediff('orders.ordered_at', 'conversions.occurred_at', 'second') }}) as seconds_apart
    from conversions
    inner join orders on orders.person_key = conversions.person_key
    where abs({{ dbt.datediff('orders.ordered_at', 'conversions.occurred_at', 'second') }})
        <= {{ var('purchase_match_window_minutes') * 60 }}

),

ranked as (

    select
        event_id,
        order_id,
        seconds_apart,
        row_number() over (partition by event_id order by seconds_apart, order_id) as rank_for_conversion,
        row_number() over (partition by order_id order by seconds_apart, event_id) as rank_for_order
    from candidates

),

pairs as (

    select event_id, order_id, seconds_apart
    from ranked
    where rank_for_conversion = 1 and rank_for_order = 1

),

final as (

    select
        conversions.event_id,
        conversions.person_key,
        conversions.occurred_at as converted_at,
        conversions.delivery_id,
        conversions.channel,
        conversions.parent_type,
        conversions.parent_id,
        conversions.action_id,
        conversions.content_id,
        pairs.order_id,
        pairs.seconds_apart
    from conversions
    left join pairs on pairs.event_id = conversions.event_id

)

select * from final
