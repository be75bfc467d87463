-- Message and profile events from every Customer.io source (webhooks, Data Warehouse
-- Sync, App API), in one shape, before cross-source deduplication. `fact_group_key`
-- names the fact a row reports (a delivery's metric, or a profile event), so
-- fct_message_events can keep one source per fact.
{%- set columns = message_event_columns() %}
with

{% for src in message_event_sources() %}
{{ src.event_source }}_events as (

    select * from {{ ref(src.model) }}

),

{% endfor %}
unioned as (

    {%- for src in message_event_sources() %}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        {{ src.precedence }} as source_precedence
    from {{ src.event_source }}_events
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        *,
        case
            when delivery_id is null then {{ dbt.concat(["'event|'", 'event_id']) }}
            else {{ dbt.concat(["'delivery|'", 'delivery_id', "'|'", 'metric']) }}
        end as fact_group_key
    from unioned

)

select * from final
