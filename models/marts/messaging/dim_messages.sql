-- One row per message: a campaign or broadcast action, a newsletter variant, or a
-- transactional message, as seen in deliveries. Names come from the Customer.io App
-- API's metadata when it is loaded (null otherwise).
with

deliveries as (

    select * from {{ ref('fct_message_deliveries') }}
    where parent_type is not null

),

names as (

    select * from {{ ref('int_customerio_api__message_names') }}

),

-- a message's channel is the one most of its deliveries went out on (ties: by name), so
-- a stray delivery on another channel does not relabel it
by_channel as (

    select
        parent_type,
        parent_id,
        action_id,
        content_id,
        channel,
        count(*) as deliveries,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at
    from deliveries
    group by parent_type, parent_id, action_id, content_id, channel

),

ranked as (

    select
        parent_type,
        parent_id,
        action_id,
        content_id,
        channel,
        cast(sum(deliveries) over (partition by parent_type, parent_id, action_id, content_id)
            as {{ dbt.type_bigint() }}) as deliveries,
        min(first_seen_at) over (partition by parent_type, parent_id, action_id, content_id) as first_seen_at,
        max(last_seen_at) over (partition by parent_type, parent_id, action_id, content_id) as last_seen_at,
        row_number() over (
            partition by parent_type, parent_id, action_id, content_id
            order by deliveries desc, channel
        ) as channel_rank
    from by_channel

),

observed as (

    select parent_type, parent_id, action_id, content_id, channel, deliveries, first_seen_at, last_seen_at
    from ranked
    where channel_rank = 1

),

-- what names the message inside its parent: the action of a campaign or broadcast, the
-- variant of a newsletter; a transactional message is its own message
referenced as (

    select
        *,
        case
            when parent_type = 'newsletter' then content_id
            when parent_type in ('campaign', 'broadcast') then action_id
        end as message_ref
    from observed

),

parent_names as (

    select parent_type, parent_id, parent_name
    from names
    where is_parent

),

message_names as (

    select parent_type, parent_id, message_ref, message_name
    from names
    where message_name is not null

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'referenced.parent_type', "'|'", 'referenced.parent_id', "'|'",
            "coalesce(referenced.action_id, '')", "'|'", "coalesce(referenced.content_id, '')"])) }} as message_key,
        referenced.parent_type,
        referenced.parent_id,
        referenced.action_id,
        referenced.content_id,
        referenced.channel,
        parent_names.parent_name,
        message_names.message_name,
        referenced.deliveries,
        referenced.first_seen_at,
        referenced.last_seen_at
    from referenced
    left join parent_names
        on parent_names.parent_type = referenced.parent_type
        and parent_names.parent_id = referenced.parent_id
    left join message_names
        on message_names.parent_type = referenced.parent_type
        and message_names.parent_id = referenced.parent_id
        and coalesce(message_names.message_ref, '') = coalesce(referenced.message_ref, '')

)

select * from final
