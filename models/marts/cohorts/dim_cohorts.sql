-- The cohort registry (var cohorts in dbt_project.yml) as a table: one row per cohort
-- with its rule, parameters and where it goes in Amplitude.
{%- set cohorts = cohort_registry() %}
with

registry as (

    {%- for cohort in cohorts %}
    {%- set parameters = {} %}
    {%- for key, value in cohort.items() if key not in ['name', 'description', 'shape', 'push', 'amplitude_property'] %}
    {%- do parameters.update({key: value}) %}
    {%- endfor %}
    select
        {{ sql_text(cohort['name']) }} as cohort_name,
        {{ sql_text(cohort['description']) }} as description,
        {{ sql_text(cohort['shape']) }} as shape,
        {{ sql_text(tojson(parameters, sort_keys=true)) }} as parameters,
        {{ 'true' if cohort['push'] else 'false' }} as is_pushed,
        {% if cohort['push'] %}{{ sql_text(cohort['amplitude_property']) }}{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as amplitude_property,
        {{ loop.index }} as registry_order
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        cast(cohort_name as {{ dbt.type_string() }}) as cohort_name,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(shape as {{ dbt.type_string() }}) as shape,
        cast(parameters as {{ dbt.type_string() }}) as parameters,
        is_pushed,
        cast(amplitude_property as {{ dbt.type_string() }}) as amplitude_property,
        cast(registry_order as {{ dbt.type_int() }}) as registry_order
    from registry

)

select * from final
