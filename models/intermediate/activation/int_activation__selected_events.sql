-- The message events whose metric var amplitude_event_metrics selects (by default clicks and
-- unsubscribes, about 3 % of all events), for every person and time. fct_amplitude_events
-- joins them to the identities and as_of at every build: cheap on these rows, where reading
-- them out of fct_message_events decompressed every column of every event (3 s at 10M).
-- Incremental like fct_message_events (delete+insert on fact_group_key): a build takes the
-- rows of the facts fct_message_events recomputed since this model's newest group_loaded_at,
-- those of a selected metric, and those of any other metric whose fact is stored here (a fact
-- re-loaded as another metric; the post-hook then deletes the rows of metrics not selected,
-- which also clears a metric taken out of the var). A metric newly put in the var has its
-- older facts read once.
{{ config(
    materialized='incremental',
    unique_key='fact_group_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook="delete from {{ this }} where metric not in {{ sql_list(var('amplitude_event_metrics')) }}"
) }}
{%- set metrics = var('amplitude_event_metrics') %}
{%- set columns = [
    'event_id', 'fact_group_key', 'person_key', 'object_type', 'channel', 'metric', 'occurred_at',
    'delivery_id', 'parent_type', 'campaign_id', 'broadcast_id', 'newsletter_id',
    'transactional_message_id', 'action_id', 'content_id', 'href', 'link_id', 'is_machine',
    'group_loaded_at',
] %}
{#- selected metrics without a row here yet (newly selected, or never seen): read from all facts -#}
{%- set unseen_metrics = metrics | reject('in', stored_values('metric')) | list if is_incremental() else metrics %}

with

{% if is_incremental() %}
recomputed_facts as (

    select {{ columns | join(', ') }}
    from {{ ref('fct_message_events') }}
    where group_loaded_at > (select {{ loaded_at_watermark('group_loaded_at') }} from {{ this }})
        and (
            metric in {{ sql_list(metrics) }}
            or fact_group_key in (select fact_group_key from {{ this }})
        )

),
{% endif %}

{% if unseen_metrics %}
facts_of_unseen_metrics as (

    select {{ columns | join(', ') }}
    from {{ ref('fct_message_events') }}
    where metric in {{ sql_list(unseen_metrics) }}
    {%- if is_incremental() %}
        -- (the newer ones are in recomputed_facts)
        and group_loaded_at <= (select {{ loaded_at_watermark('group_loaded_at') }} from {{ this }})
    {%- endif %}

),
{% endif %}

final as (

    {%- if is_incremental() %}
    select * from recomputed_facts
    {%- endif %}
    {%- if is_incremental() and unseen_metrics %}

    union all

    {%- endif %}
    {%- if unseen_metrics %}
    select * from facts_of_unseen_metrics
    {%- endif %}

)

select * from final
