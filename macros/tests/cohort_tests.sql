{#- Fails for each value of the column that is not a cohort of the registry. -#}
{% test in_cohort_registry(model, column_name) %}
select {{ column_name }} as unknown_cohort, count(*) as rows_with_it
from {{ model }}
where {{ column_name }} not in {{ sql_list(cohort_names()) }}
group by {{ column_name }}
{% endtest %}

{#- Fails for each value of the column that is not an audience of the registry. -#}
{% test in_audience_registry(model, column_name) %}
{%- set names = audience_registry() | map(attribute='name') | list %}
select {{ column_name }} as unknown_audience, count(*) as rows_with_it
from {{ model }}
{%- if names %}
where {{ column_name }} not in {{ sql_list(names) }}
{%- endif %}
group by {{ column_name }}
{% endtest %}

{#- Fails when the rows were computed from data older than max_lag_hours (default var
    cohort_max_data_lag_hours) before their as_of: stale suppression cohorts waste spend.
    One failing row per (as_of, data_through). -#}
{% test data_fresh_for_as_of(model, max_lag_hours=none) %}
{%- set lag = max_lag_hours if max_lag_hours is not none else var('cohort_max_data_lag_hours') %}
select
    as_of,
    data_through,
    count(*) as stale_rows,
    'newest event older than {{ lag }} h before as_of: load the latest data, or raise cohort_max_data_lag_hours (msgmetrics build --max-data-lag-hours) for a backfill' as what_to_do
from {{ model }}
where data_through is null or data_through < {{ dbt.dateadd('hour', -1 * lag, 'as_of') }}
group by as_of, data_through
{% endtest %}

{#- Fails for each (cohort, person) with more than one open spell (exited_at null). -#}
{% test one_open_spell_per_member(model) %}
select cohort_name, person_key, count(*) as open_spells
from {{ model }}
where exited_at is null
group by cohort_name, person_key
having count(*) > 1
{% endtest %}
