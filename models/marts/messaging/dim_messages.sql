-- One row per message: a campaign or broadcast action, a newsletter variant, or a
-- transactional message, as seen in deliveries. Names come from the Customer.io App
-- API's metadata when it is loaded (null otherwise).
with

deliveries as (

    select * from {{ ref('fct_message_deliveries') }}
    where parent_type is not null

),

observed as (

    select
        parent_type,
        parent_id,
        action_id,
        content_id,
        max(channel) as channel,
        count(*) as deliveries,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at
    from deliveries
    group by parent_type, parent_id, action_id, content_id

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'parent_type', "'|'", 'parent_id', "'|'",
            "coalesce(action_id, '')", "'|'", "coalesce(content_id, '')"])) }} as message_key,
        parent_type,
        parent_id,
        action_id,
        content_id,
        channel,
        cast(null as {{ dbt.type_string() }}) as parent_name,
        cast(null as {{ dbt.type_string() }}) as message_name,
        deliveries,
        first_seen_at,
        last_seen_at
    from observed

)

select * from final
