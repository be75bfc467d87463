{#- Cohort rule shapes. Each returns (cohort_name, person_key, reason,
    qualifying_event_at) for the people in the cohort at as_of; settings come from
    the var `cohort_<name>` (see dbt_project.yml). -#}

{#- Engagement in a window: at least one human click on the configured channels
    in (as_of - window_days, as_of]. Machine-flagged clicks never count. -#}
{% macro cohort_human_clicked_in_window(cohort_name, events_relation) -%}
{%- set window_days = cohort_setting(cohort_name, 'window_days') -%}
{%- set channels = cohort_setting(cohort_name, 'channels') -%}
with

events as (

    select * from {{ events_relation }}

),

clicks as (

    select
        person_key,
        count(*) as human_clicks,
        max(occurred_at) as last_human_click_at
    from events
    where is_human_click
        and channel in {{ sql_list(channels) }}
        and person_key is not null
        and {{ in_window_before_as_of('occurred_at', window_days) }}
    group by person_key

),

final as (

    select
        '{{ cohort_name }}' as cohort_name,
        person_key,
        {{ dbt.concat([
            dbt.cast('human_clicks', dbt.type_string()),
            "' human click(s) on " ~ channels | join('/') ~ " in the " ~ window_days ~ " days to as_of, the last at '",
            dbt.cast('last_human_click_at', dbt.type_string())]) }} as reason,
        last_human_click_at as qualifying_event_at
    from clicks

)

select * from final
{%- endmacro %}

{#- Fatigue: at least min_deliveries distinct deliveries delivered on the configured
    channels in (as_of - window_days, as_of] and no human click in that window. -#}
{% macro cohort_delivered_without_click(cohort_name, events_relation) -%}
{%- set window_days = cohort_setting(cohort_name, 'window_days') -%}
{%- set min_deliveries = cohort_setting(cohort_name, 'min_deliveries') -%}
{%- set channels = cohort_setting(cohort_name, 'channels') -%}
with

events as (

    select * from {{ events_relation }}
    where person_key is not null
        and channel in {{ sql_list(channels) }}
        and {{ in_window_before_as_of('occurred_at', window_days) }}

),

delivered as (

    select
        person_key,
        count(distinct delivery_id) as deliveries,
        max(occurred_at) as last_delivered_at
    from events
    where metric = 'delivered'
    group by person_key
    having count(distinct delivery_id) >= {{ min_deliveries }}

),

clickers as (

    select distinct person_key
    from events
    where is_human_click

),

final as (

    select
        '{{ cohort_name }}' as cohort_name,
        delivered.person_key,
        {{ dbt.concat([
            dbt.cast('delivered.deliveries', dbt.type_string()),
            "' deliveries and no human click in the " ~ window_days ~ " days to as_of'"]) }} as reason,
        delivered.last_delivered_at as qualifying_event_at
    from delivered
    left join clickers on clickers.person_key = delivered.person_key
    where clickers.person_key is null

)

select * from final
{%- endmacro %}
