-- One row per Customer.io message or profile event (deduplicated on event_id).
{{ config(materialized='incremental', unique_key='event_id', on_schema_change='append_new_columns') }}

with

events as (

    select * from {{ ref('stg_customerio__message_events') }}
    {% if is_incremental() %}
    where loaded_at > (select {{ loaded_at_watermark('loaded_at') }} from {{ this }})
    {% endif %}

),

final as (

    select
        event_id,
        delivery_id,
        person_key,
        cio_id,
        customer_id,
        object_type,
        channel,
        metric,
        is_known_event,
        occurred_at,
        cast(occurred_at as date) as occurred_on,
        parent_type,
        parent_id,
        campaign_id,
        broadcast_id,
        newsletter_id,
        transactional_message_id,
        action_id,
        parent_action_id,
        content_id,
        href,
        link_id,
        is_machine,
        is_proxied,
        is_prefetched,
        is_synthetic,
        -- Apple Mail Privacy Protection and other prefetchers open every email: such
        -- opens say nothing about the person. Proxied (e.g. Gmail image proxy) opens
        -- are still human.
        (metric = 'opened' and not is_prefetched) as is_human_open,
        (metric = 'clicked' and not is_machine) as is_human_click,
        loaded_at
    from events

)

select * from final
