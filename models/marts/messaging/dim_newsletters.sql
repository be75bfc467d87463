-- One row per newsletter known to the App API's metadata, with its number of variants
-- (contents) and the deliveries seen for it.
with

entities as (

    select * from {{ ref('stg_customerio_api__newsletters') }}

),

variants as (

    select newsletter_id, count(*) as variants
    from {{ ref('stg_customerio_api__newsletter_contents') }}
    group by newsletter_id

),

deliveries as (

    select
        newsletter_id,
        count(*) as deliveries,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at
    from {{ ref('fct_message_deliveries') }}
    where newsletter_id is not null
    group by newsletter_id

),

final as (

    select
        entities.newsletter_id,
        entities.newsletter_name,
        entities.newsletter_type,
        entities.sent_at,
        entities.created_at,
        entities.updated_at,
        coalesce(variants.variants, 0) as variants,
        coalesce(deliveries.deliveries, 0) as deliveries,
        deliveries.first_event_at,
        deliveries.last_event_at
    from entities
    left join variants on variants.newsletter_id = entities.newsletter_id
    left join deliveries on deliveries.newsletter_id = entities.newsletter_id

)

select * from final
