-- One row per delivery x UTC day of its events x channel x parent message x action, with
-- 0/1 flags for the metrics reached that day: fct_message_metrics_daily sums these, so its
-- distinct-delivery counts need no count(distinct) over every event.
-- Incremental like fct_message_deliveries: a build recomputes every delivery that got an
-- event since the last one, from all of its events, and replaces all of its rows
-- (delete+insert on delivery_id), so an event that moved to another day or group (a fact
-- taken over by another source, a delivery whose channel became known later) leaves no
-- stale row behind.
{{ config(
    materialized='incremental',
    unique_key='delivery_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

with

events as (

    {{ events_of_touched_deliveries('last_loaded_at') }}

),

final as (

    select
        delivery_id,
        occurred_on as metric_date,
        channel,
        parent_type,
        parent_id,
        action_id,
        max(case when metric = 'sent' then 1 else 0 end) as is_sent,
        max(case when metric = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when metric = 'opened' then 1 else 0 end) as is_opened,
        max(case when is_human_open then 1 else 0 end) as is_human_opened,
        max(case when metric = 'clicked' then 1 else 0 end) as is_clicked,
        max(case when is_human_click then 1 else 0 end) as is_human_clicked,
        sum(case when metric = 'clicked' and is_machine then 1 else 0 end) as machine_clicks,
        max(case when metric = 'bounced' then 1 else 0 end) as is_bounced,
        max(case when metric = 'unsubscribed' then 1 else 0 end) as is_unsubscribed,
        max(case when metric = 'converted' then 1 else 0 end) as is_converted,
        max(loaded_at) as last_loaded_at
    from events
    group by delivery_id, occurred_on, channel, parent_type, parent_id, action_id

)

select * from final
