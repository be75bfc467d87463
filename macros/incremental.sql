{#- The newest load time an incremental model has processed (a very old time when empty),
    for `where loaded_at > (select {{ loaded_at_watermark('loaded_at') }} from {{ this }})`. -#}
{% macro loaded_at_watermark(column) -%}
    coalesce(max({{ column }}), cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
{%- endmacro %}
