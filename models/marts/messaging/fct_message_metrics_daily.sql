-- Message metrics per day (of the event, UTC) x channel x parent message x action.
-- "Unique" counts count deliveries, so a person clicking three times counts once.
-- A table summed from int_messaging__delivery_days (one row per delivery, day and group,
-- maintained incrementally), rebuilt whole every build: an event whose day, channel or
-- parent changed after it was first built (a Data Warehouse Sync metric whose delivery
-- arrived later, a fact taken over by another source) moves to its new group, and no old
-- group can linger, without a count(distinct) over every event.
{{ config(materialized='table') }}

with

delivery_days as (

    select * from {{ ref('int_messaging__delivery_days') }}

),

daily as (

    select
        metric_date,
        channel,
        parent_type,
        parent_id,
        action_id,
        cast(sum(is_sent) as {{ dbt.type_bigint() }}) as sends,
        cast(sum(is_delivered) as {{ dbt.type_bigint() }}) as deliveries,
        cast(sum(is_opened) as {{ dbt.type_bigint() }}) as unique_opens,
        cast(sum(is_human_opened) as {{ dbt.type_bigint() }}) as unique_human_opens,
        cast(sum(is_clicked) as {{ dbt.type_bigint() }}) as unique_clicks,
        cast(sum(is_human_clicked) as {{ dbt.type_bigint() }}) as unique_human_clicks,
        sum(machine_clicks) as machine_clicks,
        cast(sum(is_bounced) as {{ dbt.type_bigint() }}) as bounces,
        cast(sum(is_unsubscribed) as {{ dbt.type_bigint() }}) as unsubscribes,
        cast(sum(is_converted) as {{ dbt.type_bigint() }}) as conversions,
        max(last_loaded_at) as last_loaded_at
    from delivery_days
    group by metric_date, channel, parent_type, parent_id, action_id

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            dbt.cast('metric_date', dbt.type_string()), "'|'",
            "coalesce(channel, '')", "'|'", "coalesce(parent_type, '')", "'|'",
            "coalesce(parent_id, '')", "'|'", "coalesce(action_id, '')"])) }} as metrics_daily_key,
        *,
        cast(deliveries as {{ type_double() }}) / nullif(sends, 0) as delivery_rate,
        cast(unique_human_opens as {{ type_double() }}) / nullif(deliveries, 0) as human_open_rate,
        cast(unique_human_clicks as {{ type_double() }}) / nullif(deliveries, 0) as human_click_rate,
        cast(bounces as {{ type_double() }}) / nullif(sends, 0) as bounce_rate,
        cast(unsubscribes as {{ type_double() }}) / nullif(deliveries, 0) as unsubscribe_rate,
        cast(conversions as {{ type_double() }}) / nullif(deliveries, 0) as conversion_rate
    from daily

)

select * from final
