-- Names from the App API's metadata, one row per named thing: a parent message (campaign,
-- broadcast, newsletter, transactional message; message_ref null) or a message inside one
-- (a campaign or broadcast action: message_ref = action_id; a newsletter variant:
-- message_ref = content_id). A transactional message is its own message, so its parent row
-- carries message_name too.
with

campaigns as (

    select * from {{ ref('stg_customerio_api__campaigns') }}

),

campaign_actions as (

    select * from {{ ref('stg_customerio_api__campaign_actions') }}

),

broadcasts as (

    select * from {{ ref('stg_customerio_api__broadcasts') }}

),

broadcast_actions as (

    select * from {{ ref('stg_customerio_api__broadcast_actions') }}

),

newsletters as (

    select * from {{ ref('stg_customerio_api__newsletters') }}

),

newsletter_contents as (

    select * from {{ ref('stg_customerio_api__newsletter_contents') }}

),

transactional_messages as (

    select * from {{ ref('stg_customerio_api__transactional_messages') }}

),

named as (

    select
        'campaign' as parent_type, campaign_id as parent_id, cast(null as {{ dbt.type_string() }}) as message_ref,
        campaign_name as parent_name, cast(null as {{ dbt.type_string() }}) as message_name,
        cast(null as {{ dbt.type_string() }}) as channel
    from campaigns
    union all
    select
        'campaign', campaign_actions.campaign_id, campaign_actions.action_id,
        campaigns.campaign_name, campaign_actions.action_name, campaign_actions.channel
    from campaign_actions
    left join campaigns on campaigns.campaign_id = campaign_actions.campaign_id
    union all
    select 'broadcast', broadcast_id, null, broadcast_name, null, null
    from broadcasts
    union all
    select
        'broadcast', broadcast_actions.broadcast_id, broadcast_actions.action_id,
        broadcasts.broadcast_name, broadcast_actions.action_name, broadcast_actions.channel
    from broadcast_actions
    left join broadcasts on broadcasts.broadcast_id = broadcast_actions.broadcast_id
    union all
    select 'newsletter', newsletter_id, null, newsletter_name, null, null
    from newsletters
    union all
    select
        'newsletter', newsletter_contents.newsletter_id, newsletter_contents.content_id,
        newsletters.newsletter_name,
        -- a variant is named in Customer.io (e.g. "Variant A"); fall back to its subject
        coalesce(newsletter_contents.content_name, newsletter_contents.subject),
        newsletter_contents.channel
    from newsletter_contents
    left join newsletters on newsletters.newsletter_id = newsletter_contents.newsletter_id
    union all
    select 'transactional', transactional_message_id, null, transactional_message_name,
           transactional_message_name, null
    from transactional_messages

),

final as (

    select
        {{ dbt.hash(dbt.concat(['parent_type', "'|'", 'parent_id', "'|'", "coalesce(message_ref, '')"])) }}
            as message_name_key,
        parent_type,
        parent_id,
        message_ref,
        message_ref is null as is_parent,
        parent_name,
        message_name,
        channel
    from named

)

select * from final
