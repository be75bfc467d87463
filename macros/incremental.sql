{#- The newest load time an incremental model has processed (a very old time when empty),
    for `where loaded_at > (select {{ loaded_at_watermark('loaded_at') }} from {{ this }})`. -#}
{% macro loaded_at_watermark(column) -%}
    coalesce(max({{ column }}), cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
{%- endmacro %}

{#- Every event of the deliveries that got an event since the model last ran (all of them on a
    full build), for delivery-grain models that recompute a touched delivery from all of its
    events (late ones included) and replace its rows: delete+insert on delivery_id. -#}
{% macro events_of_touched_deliveries(watermark_column='last_loaded_at') -%}
    select * from {{ ref('fct_message_events') }}
    where delivery_id is not null
    {% if is_incremental() %}
        and delivery_id in (
            select delivery_id from {{ ref('fct_message_events') }}
            where loaded_at > (select {{ loaded_at_watermark(watermark_column) }} from {{ this }})
        )
    {% endif %}
{%- endmacro %}
