-- The activation audiences (var audiences in dbt_project.yml): one row per audience with
-- the cohort it is built from, what suppresses it, whether it is an incentive and its
-- priority among incentives (1 wins), and where it goes in Amplitude.
{%- set audiences = audience_registry() %}
with

registry as (

    {%- if audiences | length == 0 %}
    select
        cast(null as {{ dbt.type_string() }}) as audience_name, cast(null as {{ dbt.type_string() }}) as description,
        cast(null as {{ dbt.type_string() }}) as cohort_name, false as is_incentive,
        cast(null as {{ dbt.type_int() }}) as priority, cast(null as {{ dbt.type_string() }}) as suppressed_by_cohorts,
        false as is_pushed, cast(null as {{ dbt.type_string() }}) as amplitude_property, 0 as registry_order
    where 1 = 0
    {%- endif %}
    {%- for audience in audiences %}
    select
        {{ sql_text(audience['name']) }} as audience_name,
        {{ sql_text(audience['description']) }} as description,
        {{ sql_text(audience['cohort']) }} as cohort_name,
        {{ 'true' if audience['incentive'] else 'false' }} as is_incentive,
        {% if audience['priority'] is not none %}{{ audience['priority'] }}{% else %}cast(null as {{ dbt.type_int() }}){% endif %} as priority,
        {% if audience['suppress'] %}{{ sql_text(audience['suppress'] | join(', ')) }}{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as suppressed_by_cohorts,
        {{ 'true' if audience['push'] else 'false' }} as is_pushed,
        {% if audience['push'] %}{{ sql_text(audience['amplitude_property']) }}{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as amplitude_property,
        {{ loop.index }} as registry_order
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        cast(audience_name as {{ dbt.type_string() }}) as audience_name,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(cohort_name as {{ dbt.type_string() }}) as cohort_name,
        is_incentive,
        cast(priority as {{ dbt.type_int() }}) as priority,
        cast(suppressed_by_cohorts as {{ dbt.type_string() }}) as suppressed_by_cohorts,
        is_pushed,
        cast(amplitude_property as {{ dbt.type_string() }}) as amplitude_property,
        cast(registry_order as {{ dbt.type_int() }}) as registry_order
    from registry

)

select * from final
