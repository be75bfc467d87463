-- One row per API-triggered broadcast known to the App API's metadata, with its number of
-- actions and the deliveries seen for it.
with

entities as (

    select * from {{ ref('stg_customerio_api__broadcasts') }}

),

actions as (

    select broadcast_id, count(*) as actions
    from {{ ref('stg_customerio_api__broadcast_actions') }}
    group by broadcast_id

),

deliveries as (

    select
        broadcast_id,
        count(*) as deliveries,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at
    from {{ ref('fct_message_deliveries') }}
    where broadcast_id is not null
    group by broadcast_id

),

final as (

    select
        entities.broadcast_id,
        entities.broadcast_name,
        entities.broadcast_type,
        entities.state,
        entities.is_active,
        entities.created_at,
        entities.updated_at,
        coalesce(actions.actions, 0) as actions,
        coalesce(deliveries.deliveries, 0) as deliveries,
        deliveries.first_event_at,
        deliveries.last_event_at
    from entities
    left join actions on actions.broadcast_id = entities.broadcast_id
    left join deliveries on deliveries.broadcast_id = entities.broadcast_id

)

select * from final
