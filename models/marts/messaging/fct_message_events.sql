-- One row per Customer.io message or profile event, whichever source reported it.
-- When several sources report the same fact (the same metric of the same delivery),
-- only the events of the most precise source are kept (webhooks, then Data Warehouse
-- Sync, then the App API), so nothing counts twice.
-- Incremental: a build recomputes every fact that received a row from any source since
-- the last build, from all of that fact's rows (delete+insert on fact_group_key).
{{ config(
    materialized='incremental',
    unique_key='fact_group_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

-- (int_messaging__events_unioned is read in each CTE rather than through one shared CTE: a CTE
-- referenced twice is materialized whole by DuckDB, every column of every event, each build.)
with

{% if is_incremental() %}
touched as (

    select distinct fact_group_key
    from {{ ref('int_messaging__events_unioned') }}
    where loaded_at > (select {{ loaded_at_watermark('group_loaded_at') }} from {{ this }})

),

candidates as (

    select unioned.*
    from {{ ref('int_messaging__events_unioned') }} as unioned
    inner join touched on touched.fact_group_key = unioned.fact_group_key

),
{% else %}
candidates as (

    select * from {{ ref('int_messaging__events_unioned') }}

),
{% endif %}

ranked as (

    select
        *,
        min(source_precedence) over (partition by fact_group_key) as winning_precedence,
        max(loaded_at) over (partition by fact_group_key) as group_loaded_at
    from candidates

),

final as (

    select
        event_id,
        event_source,
        fact_group_key,
        delivery_id,
        person_key,
        cio_id,
        customer_id,
        object_type,
        channel,
        metric,
        is_known_event,
        occurred_at,
        cast(occurred_at as date) as occurred_on,
        parent_type,
        parent_id,
        campaign_id,
        broadcast_id,
        newsletter_id,
        transactional_message_id,
        action_id,
        parent_action_id,
        content_id,
        href,
        link_id,
        is_machine,
        is_proxied,
        is_prefetched,
        is_synthetic,
        -- Apple Mail Privacy Protection and other prefetchers open every email: such
        -- opens say nothing about the person. Proxied (e.g. Gmail image proxy) opens
        -- are still human.
        (metric = 'opened' and not is_prefetched) as is_human_open,
        (metric = 'clicked' and not is_machine) as is_human_click,
        loaded_at,
        group_loaded_at
    from ranked
    where source_precedence = winning_precedence

)

select * from final
