-- App API deliveries (GET /v1/messages), one row per delivery, with each metric's time.
-- Incremental on the loader's clock: a re-read delivery comes back with a new _loaded_at
-- and replaces its row.
{%- set metric_times = ['drafted', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'bounced',
                        'spammed', 'unsubscribed', 'dropped', 'failed', 'undeliverable'] %}
{%- set split_values = ['human_opened', 'prefetch_opened', 'human_clicked', 'prefetch_clicked'] %}
{%- set text = dbt.type_string() %}
{%- set columns = {'id': text, 'created': dbt.type_bigint(), 'deduplicate_id': text, 'type': text,
                   'customer_id': text, 'customer_identifiers__id': text, 'customer_identifiers__email': text,
                   'customer_identifiers__cio_id': text, 'recipient': text, 'subject': text,
                   'failure_message': text, 'forgotten': dbt.type_boolean(), 'campaign_id': text,
                   'action_id': text, 'parent_action_id': text, 'newsletter_id': text, 'content_id': text,
                   'broadcast_id': text, 'transactional_message_id': text, 'trigger_event_id': text,
                   'msg_template_id': text, 'message_template_id': text, '_endpoint': text,
                   '_loaded_at': 'timestamp with time zone'} %}
{%- for metric in metric_times + split_values %}
    {%- do columns.update({'metrics__' ~ metric: dbt.type_bigint()}) %}
{%- endfor %}
{{ config(materialized='incremental', unique_key='delivery_id', on_schema_change='append_new_columns') }}

with

source as (

    {{ source_or_empty('customerio_api', 'messages', columns) }}
    {% if is_incremental() %}
    where {{ loaded_since_last_build() }}
    {% endif %}

),

-- dlt already merges on id; keep one row per delivery here as well so the model is
-- correct whatever loaded the table.
deduplicated as (

    select
        *,
        row_number() over (partition by id order by _loaded_at desc, deduplicate_id desc) as row_rank
    from source

),

renamed as (

    select
        ---------- ids
        id as delivery_id,
        deduplicate_id,

        ---------- what was sent
        type as message_type,
        {{ normalize_channel('type') }} as channel,
        type in ('email', 'webhook', 'twilio', 'push', 'in_app', 'slack', 'whatsapp', 'live_notification')
            as is_known_type,
        {{ epoch_to_timestamp('created') }} as created_at,
        recipient,
        subject,
        failure_message,
        coalesce(forgotten, false) as is_forgotten,

        ---------- person (identifiers first, the customer_id field as a fall-back)
        nullif(coalesce(customer_identifiers__id, customer_id), '') as customer_id,
        lower(trim(nullif(customer_identifiers__email, ''))) as email,
        nullif(customer_identifiers__cio_id, '') as cio_id,

        ---------- parent message and workflow step
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
        trigger_event_id,
        coalesce(msg_template_id, message_template_id) as template_id,

        ---------- when each metric was first reached (UTC)
        {%- for metric in metric_times %}
        {{ epoch_to_timestamp('metrics__' ~ metric) }} as {{ metric }}_at,
        {%- endfor %}
        ---------- human/machine split of opens and clicks, as sent (see the model's description)
        {%- for value in split_values %}
        metrics__{{ value }} as {{ value }}_value,
        {%- endfor %}

        ---------- lineage
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at,
        _endpoint as source_endpoint

    from deduplicated
    where row_rank = 1

),

final as (

    select * from renamed

)

select * from final
