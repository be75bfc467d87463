-- The events msgmetrics sends to Amplitude: one row per Customer.io event whose
-- metric is selected (var amplitude_event_metrics) and whose person resolves to an
-- Amplitude user id, up to as_of. insert_id is deterministic, so a resend dedups.
-- Rebuilt every build (identities and as_of move) from int_activation__selected_events,
-- the selected events of fct_message_events.
with

events as (

    select * from {{ ref('int_activation__selected_events') }}

),

identity as (

    select * from {{ ref('xref_user_identity') }}

),

names as (

    select * from {{ ref('amplitude_event_names') }}

),

final as (

    select
        {{ dbt.concat(["'cio-'", 'events.event_id']) }} as insert_id,
        events.event_id,
        identity.amplitude_user_id as user_id,
        coalesce(
            names.event_type,
            {{ dbt.concat(['events.object_type', "' '", 'events.metric']) }}
        ) as event_type,
        events.occurred_at,
        cast({{ dbt.datediff("cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")", 'events.occurred_at', 'millisecond') }} as {{ dbt.type_bigint() }}) as time_ms,
        events.channel,
        events.metric,
        events.delivery_id,
        events.parent_type,
        events.campaign_id,
        events.broadcast_id,
        events.newsletter_id,
        events.transactional_message_id,
        events.action_id,
        events.content_id,
        events.href,
        events.link_id,
        events.is_machine,
        {%- if var('amplitude_include_email') %}
        identity.email
        {%- else %}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as email
    from events
    inner join identity on identity.person_key = events.person_key
    left join names on names.object_type = events.object_type and names.metric = events.metric
    where identity.amplitude_user_id is not null
        and events.occurred_at <= {{ as_of_timestamp() }}

)

select * from final
