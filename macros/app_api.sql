{#- The time of a human/machine open or click from the App API's `human_*` / `prefetch_*`
    metric values. The spec types them as unix times in the per-delivery metrics map but
    describes them as "the number of" opens/clicks: a value of at least 10^9 (2001-09-09) is a
    time; a smaller positive value is a count, and the open/click is put at the delivery's
    first `opened`/`clicked` time; 0 or absent means none. -#}
{% macro app_api_split_time(value, first_time) -%}
    case
        when {{ value }} >= 1000000000 then {{ epoch_to_timestamp(value) }}
        when {{ value }} > 0 then {{ first_time }}
    end
{%- endmacro %}
