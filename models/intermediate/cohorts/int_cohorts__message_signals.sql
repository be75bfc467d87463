-- The message events a cohort signal can come from, whatever as_of: every click, open,
-- delivery, unsubscribe and conversion of fct_message_events, with the keys of its message.
-- int_cohorts__signals decides which are signals (human clicks and opens only), applies
-- as_of and joins the current intent, so neither a later as_of nor a changed intent
-- mapping makes a stored row wrong.
-- Incremental like fct_message_events: every fact (fact_group_key) recomputed there since
-- the last build is replaced whole (delete+insert), whatever its rows became (a webhook
-- superseding the App API's click, a machine flag). The increment carries every row of
-- those facts and the post-hook drops the ones of other metrics, so a fact whose metric
-- changed (a profile event re-loaded as another metric) leaves no stale row.
{%- set metrics = ['clicked', 'opened', 'delivered', 'unsubscribed', 'converted'] %}
{{ config(
    materialized='incremental',
    unique_key='fact_group_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook="delete from {{ this }} where metric is null or metric not in " ~ sql_list(metrics)
) }}

with

events as (

    select * from {{ ref('fct_message_events') }}
    {% if is_incremental() %}
    where group_loaded_at > (select {{ loaded_at_watermark('group_loaded_at') }} from {{ this }})
    {% else %}
    where metric in {{ sql_list(metrics) }}
    {% endif %}

),

final as (

    select
        fact_group_key,
        event_id,
        person_key,
        metric,
        is_human_click,
        is_human_open,
        channel,
        occurred_at,
        delivery_id,
        parent_type,
        parent_id,
        action_id,
        content_id,
        group_loaded_at
    from events

)

select * from final
