{{ config(materialized='incremental', unique_key='event_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ source_or_empty('customerio', 'webhook_events', {
        'event_id': dbt.type_string(), 'object_type': dbt.type_string(), 'metric': dbt.type_string(),
        'timestamp': dbt.type_bigint(), 'data': dbt.type_string(), 'is_known_event': dbt.type_boolean(),
        '_source_file': dbt.type_string(), '_line_number': dbt.type_bigint(),
        '_loaded_at': 'timestamp with time zone'}) }}
    {% if is_incremental() %}
    -- only what loads since the last build brought: a reloaded or late event has a new
    -- _loaded_at whatever its event time, so no lateness is ever missed
    where {{ to_utc_timestamp('_loaded_at') }} > (select {{ loaded_at_watermark('loaded_at') }} from {{ this }})
    {% endif %}

),

-- dlt already merges on event_id; keep one row per event_id here as well so the
-- model is correct whatever loaded the table.
deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id order by _loaded_at desc, _source_file desc, _line_number desc
        ) as row_rank
    from source

),

renamed as (

    select
        ---------- ids
        event_id,
        {{ json_text('data', ['delivery_id']) }} as delivery_id,

        ---------- what happened
        object_type,
        {{ normalize_channel('object_type') }} as channel,
        metric,
        coalesce(is_known_event, false) as is_known_event,
        {{ epoch_to_timestamp('"timestamp"') }} as occurred_at,

        ---------- person (identifiers first; the deprecated customer_id and the customer
        ---------- events' email_address only as fall-backs)
        nullif(coalesce(
            {{ json_text('data', ['identifiers', 'id']) }},
            {{ json_text('data', ['customer_id']) }}
        ), '') as customer_id,
        lower(trim(nullif(coalesce(
            {{ json_text('data', ['identifiers', 'email']) }},
            {{ json_text('data', ['email_address']) }}
        ), ''))) as email,
        nullif({{ json_text('data', ['identifiers', 'cio_id']) }}, '') as cio_id,

        ---------- parent message and workflow step
        {{ json_text('data', ['campaign_id']) }} as campaign_id,
        {{ json_text('data', ['broadcast_id']) }} as broadcast_id,
        {{ json_text('data', ['newsletter_id']) }} as newsletter_id,
        {{ json_text('data', ['transactional_message_id']) }} as transactional_message_id,
        {{ json_text('data', ['action_id']) }} as action_id,
        {{ json_text('data', ['parent_action_id']) }} as parent_action_id,
        {{ json_text('data', ['content_id']) }} as content_id,
        {{ json_text('data', ['trigger_id']) }} as trigger_id,
        {{ json_text('data', ['journey_id']) }} as journey_id,

        ---------- link and engagement quality flags
        {{ json_text('data', ['href']) }} as href,
        {{ json_text('data', ['link_id']) }} as link_id,
        coalesce({{ json_bool('data', ['machine']) }}, false) as is_machine,
        coalesce({{ json_bool('data', ['proxied']) }}, false) as is_proxied,
        coalesce({{ json_bool('data', ['prefetched']) }}, false) as is_prefetched,
        coalesce({{ json_bool('data', ['synthetic']) }}, false) as is_synthetic,
        {{ json_text('data', ['failure_message']) }} as failure_message,

        ---------- lineage
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _source_file as source_file

    from deduplicated
    where row_rank = 1

),

final as (

    select
        event_id,
        'webhook' as event_source,
        delivery_id,
        {{ person_key('cio_id', 'customer_id', 'email') }} as person_key,
        object_type,
        channel,
        metric,
        is_known_event,
        occurred_at,
        customer_id,
        email,
        cio_id,
        case
            when campaign_id is not null then 'campaign'
            when broadcast_id is not null then 'broadcast'
            when newsletter_id is not null then 'newsletter'
            when transactional_message_id is not null then 'transactional'
        end as parent_type,
        coalesce(campaign_id, broadcast_id, newsletter_id, transactional_message_id) as parent_id,
        campaign_id,
        broadcast_id,
        newsletter_id,
        transactional_message_id,
        action_id,
        parent_action_id,
        content_id,
        trigger_id,
        journey_id,
        href,
        link_id,
        is_machine,
        is_proxied,
        is_prefetched,
        is_synthetic,
        failure_message,
        loaded_at,
        source_file
    from renamed

)

select * from final
