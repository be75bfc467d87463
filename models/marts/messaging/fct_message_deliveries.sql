-- One row per delivery (one message sent to one person) with the time each metric
-- was first reached and was_* flags. Incremental: a build recomputes only the deliveries
-- that received events since the last one (from all of their events, late ones included).
{{ config(materialized='incremental', unique_key='delivery_id', on_schema_change='append_new_columns') }}

with

events as (

    {{ events_of_touched_deliveries('last_loaded_at') }}

),

final as (

    select
        delivery_id,
        max(person_key) as person_key,
        max(cio_id) as cio_id,
        max(customer_id) as customer_id,
        max(channel) as channel,
        max(parent_type) as parent_type,
        max(parent_id) as parent_id,
        max(campaign_id) as campaign_id,
        max(broadcast_id) as broadcast_id,
        max(newsletter_id) as newsletter_id,
        max(transactional_message_id) as transactional_message_id,
        max(action_id) as action_id,
        max(content_id) as content_id,
        min(case when metric = 'sent' then occurred_at end) as sent_at,
        min(case when metric = 'delivered' then occurred_at end) as delivered_at,
        min(case when metric = 'opened' then occurred_at end) as first_opened_at,
        min(case when is_human_open then occurred_at end) as first_human_opened_at,
        min(case when metric = 'clicked' then occurred_at end) as first_clicked_at,
        min(case when is_human_click then occurred_at end) as first_human_clicked_at,
        min(case when metric = 'bounced' then occurred_at end) as bounced_at,
        min(case when metric = 'unsubscribed' then occurred_at end) as unsubscribed_at,
        min(case when metric = 'converted' then occurred_at end) as converted_at,
        min(case when metric = 'spammed' then occurred_at end) as spammed_at,
        sum(case when metric = 'opened' then 1 else 0 end) as open_count,
        sum(case when is_human_click then 1 else 0 end) as human_click_count,
        sum(case when metric = 'clicked' and is_machine then 1 else 0 end) as machine_click_count,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        {{ dbt.listagg('distinct event_source', "', '", 'order by event_source') }} as event_sources,
        max(loaded_at) as last_loaded_at
    from events
    group by delivery_id

)

select
    *,
    sent_at is not null as was_sent,
    delivered_at is not null as was_delivered,
    first_opened_at is not null as was_opened,
    first_human_opened_at is not null as was_human_opened,
    first_clicked_at is not null as was_clicked,
    first_human_clicked_at is not null as was_human_clicked,
    bounced_at is not null as was_bounced,
    unsubscribed_at is not null as was_unsubscribed,
    converted_at is not null as was_converted
from final
