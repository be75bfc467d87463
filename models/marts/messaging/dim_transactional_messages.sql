-- One row per transactional message known to the App API's metadata, with the deliveries
-- seen for it.
with

entities as (

    select * from {{ ref('stg_customerio_api__transactional_messages') }}

),

deliveries as (

    select
        transactional_message_id,
        count(*) as deliveries,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at
    from {{ ref('fct_message_deliveries') }}
    where transactional_message_id is not null
    group by transactional_message_id

),

final as (

    select
        entities.transactional_message_id,
        entities.transactional_message_name,
        entities.description,
        entities.created_at,
        entities.updated_at,
        coalesce(deliveries.deliveries, 0) as deliveries,
        deliveries.first_event_at,
        deliveries.last_event_at
    from entities
    left join deliveries on deliveries.transactional_message_id = entities.transactional_message_id

)

select * from final
