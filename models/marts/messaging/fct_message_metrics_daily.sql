-- Message metrics per day (of the event, UTC) x channel x parent message x action.
-- "Unique" counts count deliveries, so a person clicking three times counts once.
-- Incremental on the event clock: a build recomputes the days that received events since
-- the last one (late events land on their own, older, day) and replaces those days whole
-- (delete+insert on metric_date): an event whose channel or parent became known later
-- (a Data Warehouse Sync metric whose delivery arrived in a later export) leaves its old
-- group, which must not linger.
{{ config(
    materialized='incremental',
    unique_key='metric_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

with

events as (

    select * from {{ ref('fct_message_events') }}
    where delivery_id is not null
    {% if is_incremental() %}
        and occurred_on in (
            select distinct occurred_on from {{ ref('fct_message_events') }}
            where loaded_at > (select {{ loaded_at_watermark('last_loaded_at') }} from {{ this }})
        )
    {% endif %}

),

daily as (

    select
        occurred_on as metric_date,
        channel,
        parent_type,
        parent_id,
        action_id,
        count(distinct case when metric = 'sent' then delivery_id end) as sends,
        count(distinct case when metric = 'delivered' then delivery_id end) as deliveries,
        count(distinct case when metric = 'opened' then delivery_id end) as unique_opens,
        count(distinct case when is_human_open then delivery_id end) as unique_human_opens,
        count(distinct case when metric = 'clicked' then delivery_id end) as unique_clicks,
        count(distinct case when is_human_click then delivery_id end) as unique_human_clicks,
        sum(case when metric = 'clicked' and is_machine then 1 else 0 end) as machine_clicks,
        count(distinct case when metric = 'bounced' then delivery_id end) as bounces,
        count(distinct case when metric = 'unsubscribed' then delivery_id end) as unsubscribes,
        count(distinct case when metric = 'converted' then delivery_id end) as conversions,
        max(loaded_at) as last_loaded_at
    from events
    group by occurred_on, channel, parent_type, parent_id, action_id

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
