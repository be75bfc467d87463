-- App API deliveries as message events, in the columns of message_event_columns(): one
-- event per metric time present on a delivery (`created` is not an event). Opens and
-- clicks: when the delivery has the human/machine split (human_opened / prefetch_opened,
-- human_clicked / prefetch_clicked; reliable from 2025-03-20 / 2025-04-20), one prefetched
-- (machine) and/or one human event at those times; without it, one event treated as human.
-- event_id = api:<delivery_id>:<metric>[:human|:prefetch], stable across re-reads.
-- Incremental: a re-read delivery (new loaded_at) has all its events replaced.
{{ config(
    materialized='incremental',
    unique_key='delivery_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}
{%- set text = dbt.type_string() %}
{%- set simple = ['drafted', 'sent', 'delivered', 'converted', 'bounced', 'spammed', 'unsubscribed',
                  'dropped', 'failed', 'undeliverable'] %}
{%- set failures = ['bounced', 'dropped', 'failed', 'undeliverable'] %}
{#- (metric, time expression, event id suffix, is_machine, is_prefetched, extra condition) #}
{%- set branches = [] %}
{%- for metric in simple %}
    {%- do branches.append((metric, metric ~ '_at', '', 'false', 'false', 'true')) %}
{%- endfor %}
{%- do branches.extend([
    ('opened', 'human_opened_at', ':human', 'false', 'false', 'true'),
    ('opened', 'prefetch_opened_at', ':prefetch', 'false', 'true', 'true'),
    ('opened', 'opened_at', '', 'false', 'false', 'human_opened_at is null and prefetch_opened_at is null'),
    ('clicked', 'human_clicked_at', ':human', 'false', 'false', 'true'),
    ('clicked', 'prefetch_clicked_at', ':prefetch', 'true', 'false', 'true'),
    ('clicked', 'clicked_at', '', 'false', 'false', 'human_clicked_at is null and prefetch_clicked_at is null'),
]) %}

with

messages as (

    select * from {{ ref('stg_customerio_api__messages') }}
    {% if is_incremental() %}
    where loaded_at > (select {{ loaded_at_watermark('loaded_at') }} from {{ this }})
    {% endif %}

),

deliveries as (

    select
        *,
        {{ app_api_split_time('human_opened_value', 'opened_at') }} as human_opened_at,
        {{ app_api_split_time('prefetch_opened_value', 'opened_at') }} as prefetch_opened_at,
        {{ app_api_split_time('human_clicked_value', 'clicked_at') }} as human_clicked_at,
        {{ app_api_split_time('prefetch_clicked_value', 'clicked_at') }} as prefetch_clicked_at
    from messages

),

metric_events as (

    {%- for metric, time_column, suffix, is_machine, is_prefetched, condition in branches %}
    select
        {{ dbt.concat(["'api:'", 'delivery_id', "':" ~ metric ~ suffix ~ "'"]) }} as event_id,
        delivery_id,
        '{{ metric }}' as metric,
        {{ time_column }} as occurred_at,
        {{ is_machine }} as is_machine,
        {{ is_prefetched }} as is_prefetched,
        {%- if metric in failures %}
        failure_message,
        {%- else %}
        cast(null as {{ text }}) as failure_message,
        {%- endif %}
        -- person, message and lineage columns of the delivery (`twilio` is the webhooks' `sms`)
        case when message_type = 'twilio' then 'sms' else message_type end as object_type,
        cio_id, customer_id, email, channel, parent_type, parent_id,
        campaign_id, broadcast_id, newsletter_id, transactional_message_id, action_id, parent_action_id,
        content_id, loaded_at, source_endpoint
    from deliveries
    where {{ time_column }} is not null and {{ condition }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        event_id,
        'app_api' as event_source,
        delivery_id,
        {{ person_key('cio_id', 'customer_id', 'email') }} as person_key,
        object_type,
        channel,
        metric,
        -- the same flag whichever source reports the fact: the webhook spec's pairs
        {{ dbt.concat(['object_type', "'.'", 'metric']) }} in {{ sql_list(customerio_known_event_pairs()) }}
            as is_known_event,
        occurred_at,
        customer_id,
        email,
        cio_id,
        parent_type,
        parent_id,
        campaign_id,
        broadcast_id,
        newsletter_id,
        transactional_message_id,
        action_id,
        parent_action_id,
        content_id,
        cast(null as {{ text }}) as trigger_id,
        cast(null as {{ text }}) as journey_id,
        cast(null as {{ text }}) as href,
        cast(null as {{ text }}) as link_id,
        is_machine,
        false as is_proxied,
        is_prefetched,
        false as is_synthetic,
        failure_message,
        loaded_at,
        source_endpoint as source_file
    from metric_events

)

select * from final
