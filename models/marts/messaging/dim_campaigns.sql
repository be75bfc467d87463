-- One row per campaign known to the App API's metadata, with its number of actions and
-- the deliveries seen for it.
with

entities as (

    select * from {{ ref('stg_customerio_api__campaigns') }}

),

actions as (

    select campaign_id, count(*) as actions
    from {{ ref('stg_customerio_api__campaign_actions') }}
    group by campaign_id

),

deliveries as (

    select
        campaign_id,
        count(*) as deliveries,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at
    from {{ ref('fct_message_deliveries') }}
    where campaign_id is not null
    group by campaign_id

),

final as (

    select
        entities.campaign_id,
        entities.campaign_name,
        entities.campaign_type,
        entities.state,
        entities.is_active,
        entities.created_at,
        entities.updated_at,
        coalesce(actions.actions, 0) as actions,
        coalesce(deliveries.deliveries, 0) as deliveries,
        deliveries.first_event_at,
        deliveries.last_event_at
    from entities
    left join actions on actions.campaign_id = entities.campaign_id
    left join deliveries on deliveries.campaign_id = entities.campaign_id

)

select * from final
