-- Data Warehouse Sync metrics as message events, in the shape every source's event model
-- has (message_event_columns()): each metric joined to its delivery (person, channel,
-- parent message), the delivery's person (id, email) and journey (broadcast or campaign).
-- loaded_at is the newest load time of the joined rows, so a metric is rebuilt (here and
-- in fct_message_events) when its delivery, person or journey arrives or changes later.
-- Incremental: a build recomputes the metrics loaded since the last one plus every metric
-- whose delivery, person or journey was loaded since then.
{{ config(materialized='incremental', unique_key='event_id', on_schema_change='append_new_columns') }}

with

metrics as (

    select * from {{ ref('stg_customerio_dw__metrics') }}

),

deliveries as (

    select * from {{ ref('stg_customerio_dw__deliveries') }}

),

people as (

    select * from {{ ref('stg_customerio_dw__people') }}

),

subjects as (

    select * from {{ ref('stg_customerio_dw__subjects') }}

),

{% if is_incremental() %}
watermark as (

    select {{ loaded_at_watermark('loaded_at') }} as loaded_at from {{ this }}

),

changed_deliveries as (

    select delivery_id from deliveries
    where loaded_at > (select loaded_at from watermark)

    union

    select deliveries.delivery_id
    from deliveries
    inner join people on people.cio_id = deliveries.cio_id
    where people.loaded_at > (select loaded_at from watermark)

    union

    select deliveries.delivery_id
    from deliveries
    inner join subjects on subjects.subject_name = deliveries.journey_id
    where subjects.loaded_at > (select loaded_at from watermark)

),

selected_metrics as (

    select * from metrics
    where loaded_at > (select loaded_at from watermark)
        or delivery_id in (select delivery_id from changed_deliveries)

),
{% else %}
selected_metrics as (

    select * from metrics

),
{% endif %}

joined as (

    select
        metrics.event_id,
        metrics.delivery_id,
        metrics.metric,
        metrics.occurred_at,
        metrics.href,
        metrics.link_id,
        metrics.failure_message,
        metrics.is_machine,
        metrics.is_proxied,
        metrics.is_prefetched,
        metrics.source_file,
        case when deliveries.delivery_type = 'twilio' then 'sms' else deliveries.delivery_type end as object_type,
        deliveries.channel,
        deliveries.cio_id,
        people.customer_id,
        people.email,
        deliveries.campaign_id,
        deliveries.newsletter_id,
        deliveries.transactional_message_id,
        deliveries.action_id,
        deliveries.content_id,
        deliveries.trigger_id,
        deliveries.journey_id,
        -- DW deliveries have no broadcast_id: an API-triggered broadcast is a campaign_id with a
        -- trigger_id, or a journey whose campaign_type says broadcast (inferred from the columns)
        (deliveries.trigger_id is not null or subjects.campaign_type like '%broadcast%') as is_broadcast,
        greatest(
            metrics.loaded_at,
            coalesce(deliveries.loaded_at, metrics.loaded_at),
            coalesce(people.loaded_at, metrics.loaded_at),
            coalesce(subjects.loaded_at, metrics.loaded_at)
        ) as loaded_at
    from selected_metrics as metrics
    left join deliveries on deliveries.delivery_id = metrics.delivery_id
    left join people on people.cio_id = deliveries.cio_id
    left join subjects on subjects.subject_name = deliveries.journey_id

),

parents as (

    select
        *,
        case
            when newsletter_id is not null then 'newsletter'
            when transactional_message_id is not null then 'transactional'
            when campaign_id is not null and is_broadcast then 'broadcast'
            when campaign_id is not null then 'campaign'
        end as parent_type
    from joined

),

final as (

    select
        event_id,
        'dw_sync' as event_source,
        delivery_id,
        {{ person_key('cio_id', 'customer_id', 'email') }} as person_key,
        object_type,
        channel,
        metric,
        coalesce(
            {{ dbt.concat(['object_type', "'.'", 'metric']) }} in {{ sql_list(customerio_known_event_pairs()) }},
            false
        ) as is_known_event,
        occurred_at,
        customer_id,
        email,
        cio_id,
        parent_type,
        coalesce(newsletter_id, transactional_message_id, campaign_id) as parent_id,
        case when parent_type = 'campaign' then campaign_id end as campaign_id,
        case when parent_type = 'broadcast' then campaign_id end as broadcast_id,
        newsletter_id,
        transactional_message_id,
        action_id,
        cast(null as {{ dbt.type_string() }}) as parent_action_id,
        content_id,
        trigger_id,
        journey_id,
        href,
        link_id,
        coalesce(is_machine, false) as is_machine,
        coalesce(is_proxied, false) as is_proxied,
        coalesce(is_prefetched, false) as is_prefetched,
        false as is_synthetic,
        failure_message,
        loaded_at,
        source_file
    from parents

)

select * from final
