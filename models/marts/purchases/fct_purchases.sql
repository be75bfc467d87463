-- One row per purchase: every shop order (identity-resolved to a person) and every
-- Customer.io `converted` metric that no order accounts for. A converted metric and the
-- order it reflects (same person, nearest within var purchase_match_window_minutes) are
-- one purchase: the order's row, attributed to the converted metric's message.
with

orders as (

    select * from {{ ref('int_purchases__orders_resolved') }}

),

conversions as (

    select * from {{ ref('int_purchases__conversions_matched') }}

),

from_orders as (

    select
        {{ dbt.concat(["'order:'", 'orders.order_id']) }} as purchase_id,
        orders.person_key,
        orders.ordered_at as purchased_at,
        case when conversions.event_id is null then 'order' else 'order_and_conversion' end as purchase_source,
        orders.order_id,
        conversions.event_id as converted_event_id,
        orders.revenue,
        orders.currency,
        conversions.delivery_id as attributed_delivery_id,
        conversions.channel as attributed_channel,
        conversions.parent_type as attributed_parent_type,
        conversions.parent_id as attributed_parent_id,
        conversions.action_id as attributed_action_id,
        conversions.content_id as attributed_content_id,
        orders.identity_match,
        orders.unresolved_reason
    from orders
    left join conversions on conversions.order_id = orders.order_id

),

from_conversions as (

    select
        {{ dbt.concat(["'cio:'", 'event_id']) }} as purchase_id,
        person_key,
        converted_at as purchased_at,
        'conversion' as purchase_source,
        cast(null as {{ dbt.type_string() }}) as order_id,
        event_id as converted_event_id,
        cast(null as {{ dbt.type_numeric() }}) as revenue,
        cast(null as {{ dbt.type_string() }}) as currency,
        delivery_id as attributed_delivery_id,
        channel as attributed_channel,
        parent_type as attributed_parent_type,
        parent_id as attributed_parent_id,
        action_id as attributed_action_id,
        content_id as attributed_content_id,
        'customerio' as identity_match,
        cast(null as {{ dbt.type_string() }}) as unresolved_reason
    from conversions
    where order_id is null

),

final as (

    select * from from_orders
    union all
    select * from from_conversions

)

select * from final
