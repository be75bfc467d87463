{{ config(materialized='incremental', unique_key='event_id', on_schema_change='append_new_columns') }}

{#- the fields read from `data`, parsed once per row (see macros/json_text.sql) -#}
{%- set data_paths = [
    ['delivery_id'], ['identifiers', 'id'], ['customer_id'], ['identifiers', 'email'], ['email_address'],
    ['identifiers', 'cio_id'], ['campaign_id'], ['broadcast_id'], ['newsletter_id'], ['transactional_message_id'],
    ['action_id'], ['parent_action_id'], ['content_id'], ['trigger_id'], ['journey_id'], ['href'], ['link_id'],
    ['machine'], ['proxied'], ['prefetched'], ['synthetic'], ['failure_message'],
] -%}

with

source as (

    {{ source_or_empty('customerio', 'webhook_events', {
        'event_id': dbt.type_string(), 'object_type': dbt.type_string(), 'metric': dbt.type_string(),
        'timestamp': dbt.type_bigint(), 'data': dbt.type_string(), 'is_known_event': dbt.type_boolean(),
        '_source_file': dbt.type_string(), '_line_number': dbt.type_bigint(),
        '_loaded_at': 'timestamp with time zone'}) }}
    {% if is_incremental() %}
    -- only what loads since the last build brought: a late event comes with a later
    -- _loaded_at whatever its event time, so no lateness is ever missed
    where {{ loaded_since_last_build() }}
    {% endif %}

),

-- The loader already keeps one row per event_id; keep one here as well so the model
-- is correct whatever loaded the table. Only ids that come more than once go through the
-- window (a window over every row, wide parsed lists included, cost ~20 % of the model's
-- CPU at 1M on DuckDB, ~25 % of its time on PostgreSQL). `data` is parsed here, once per
-- row: each branch computes the parse once (PostgreSQL's plan shows one jsonb cast per
-- branch), and the fields below read the parsed value.
repeated_ids as (

    select event_id
    from source
    group by event_id
    having count(*) > 1

),

deduplicated as (

    select
        event_id,
        object_type,
        metric,
        "timestamp",
        is_known_event,
        _source_file,
        _loaded_at,
        {{ json_texts('data', data_paths) }} as data_texts,
        1 as row_rank
    from source
    where not exists (select 1 from repeated_ids where repeated_ids.event_id = source.event_id)

    union all

    select
        event_id,
        object_type,
        metric,
        "timestamp",
        is_known_event,
        _source_file,
        _loaded_at,
        {{ json_texts('data', data_paths) }} as data_texts,
        row_number() over (
            partition by event_id order by _loaded_at desc, _source_file desc, _line_number desc
        ) as row_rank
    from source
    where exists (select 1 from repeated_ids where repeated_ids.event_id = source.event_id)

),

renamed as (

    select
        ---------- ids
        event_id,
        {{ json_texts_item('data_texts', data_paths, ['delivery_id']) }} as delivery_id,

        ---------- what happened
        object_type,
        {{ normalize_channel('object_type') }} as channel,
        metric,
        coalesce(is_known_event, false) as is_known_event,
        {{ epoch_to_timestamp('"timestamp"') }} as occurred_at,

        ---------- person (identifiers first; the deprecated customer_id and the customer
        ---------- events' email_address only as fall-backs)
        nullif(coalesce(
            {{ json_texts_item('data_texts', data_paths, ['identifiers', 'id']) }},
            {{ json_texts_item('data_texts', data_paths, ['customer_id']) }}
        ), '') as customer_id,
        lower(trim(nullif(coalesce(
            {{ json_texts_item('data_texts', data_paths, ['identifiers', 'email']) }},
            {{ json_texts_item('data_texts', data_paths, ['email_address']) }}
        ), ''))) as email,
        nullif({{ json_texts_item('data_texts', data_paths, ['identifiers', 'cio_id']) }}, '') as cio_id,

        ---------- parent message and workflow step
        {{ json_texts_item('data_texts', data_paths, ['campaign_id']) }} as campaign_id,
        {{ json_texts_item('data_texts', data_paths, ['broadcast_id']) }} as broadcast_id,
        {{ json_texts_item('data_texts', data_paths, ['newsletter_id']) }} as newsletter_id,
        {{ json_texts_item('data_texts', data_paths, ['transactional_message_id']) }} as transactional_message_id,
        {{ json_texts_item('data_texts', data_paths, ['action_id']) }} as action_id,
        {{ json_texts_item('data_texts', data_paths, ['parent_action_id']) }} as parent_action_id,
        {{ json_texts_item('data_texts', data_paths, ['content_id']) }} as content_id,
        {{ json_texts_item('data_texts', data_paths, ['trigger_id']) }} as trigger_id,
        {{ json_texts_item('data_texts', data_paths, ['journey_id']) }} as journey_id,

        ---------- link and engagement quality flags
        {{ json_texts_item('data_texts', data_paths, ['href']) }} as href,
        {{ json_texts_item('data_texts', data_paths, ['link_id']) }} as link_id,
        coalesce({{ json_text_to_bool(json_texts_item('data_texts', data_paths, ['machine'])) }}, false) as is_machine,
        coalesce({{ json_text_to_bool(json_texts_item('data_texts', data_paths, ['proxied'])) }}, false) as is_proxied,
        coalesce({{ json_text_to_bool(json_texts_item('data_texts', data_paths, ['prefetched'])) }}, false) as is_prefetched,
        coalesce({{ json_text_to_bool(json_texts_item('data_texts', data_paths, ['synthetic'])) }}, false) as is_synthetic,
        {{ json_texts_item('data_texts', data_paths, ['failure_message']) }} as failure_message,

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
