-- The intent of every message (cart, browse, post_purchase, winback, promo, other):
-- the seed message_intents by action first, then by parent message (campaign,
-- broadcast, newsletter, transactional), then the first name pattern of the seed
-- message_intent_patterns (lowest rule_order) matching the message's or its parent's
-- name (dim_messages: names are null until a loader provides them). Null when nothing
-- says: rpt_messages_without_intent lists those.
with

messages as (

    select * from {{ ref('dim_messages') }}

),

mapping as (

    select
        trim(parent_type) as parent_type,
        trim(parent_id) as parent_id,
        nullif(trim(action_id), '') as action_id,
        trim(intent) as intent
    from {{ ref('message_intents') }}

),

patterns as (

    select rule_order, lower(name_pattern) as name_pattern, trim(intent) as intent
    from {{ ref('message_intent_patterns') }}

),

pattern_matches as (

    select
        messages.message_key,
        patterns.intent,
        {{ dbt.concat(["'name pattern '", 'patterns.name_pattern', "' on '",
            "case when lower(messages.message_name) like patterns.name_pattern then 'message_name' else 'parent_name' end"]) }} as intent_source,
        row_number() over (
            partition by messages.message_key
            order by patterns.rule_order,
                case when lower(messages.message_name) like patterns.name_pattern then 0 else 1 end
        ) as match_rank
    from messages
    inner join patterns
        on lower(messages.message_name) like patterns.name_pattern
        or lower(messages.parent_name) like patterns.name_pattern

),

final as (

    select
        messages.message_key,
        messages.parent_type,
        messages.parent_id,
        messages.action_id,
        messages.content_id,
        messages.channel,
        messages.parent_name,
        messages.message_name,
        coalesce(by_action.intent, by_parent.intent, pattern_matches.intent) as intent,
        case
            when by_action.intent is not null then 'message_intents by action'
            when by_parent.intent is not null then 'message_intents by parent'
            else pattern_matches.intent_source
        end as intent_source
    from messages
    left join mapping as by_action
        on by_action.parent_type = messages.parent_type
        and by_action.parent_id = messages.parent_id
        and by_action.action_id = messages.action_id
    left join mapping as by_parent
        on by_parent.parent_type = messages.parent_type
        and by_parent.parent_id = messages.parent_id
        and by_parent.action_id is null
    left join pattern_matches
        on pattern_matches.message_key = messages.message_key
        and pattern_matches.match_rank = 1

)

select * from final
