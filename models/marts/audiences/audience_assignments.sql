-- For each person and each audience whose cohort they are in: whether they get it and
-- why not. Suppression first (a member of one of the audience's suppress cohorts is left
-- out), then incentives: among the incentive audiences a person is still eligible for,
-- only the one with the best priority (1 wins) is assigned; the others are outranked by
-- it. An incentive audience without a priority is not ranked (doctor flags overlaps).
{%- set audiences = audience_registry() %}
with

audiences as (

    select * from {{ ref('dim_audiences') }}

),

membership as (

    select * from {{ ref('cohort_membership') }}

),

suppress_rules as (

    {%- set rules = [] %}
    {%- for audience in audiences %}{% for cohort in audience['suppress'] %}{% do rules.append((audience['name'], cohort, loop.index)) %}{% endfor %}{% endfor %}
    {%- if rules | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as audience_name, cast(null as {{ dbt.type_string() }}) as cohort_name, 0 as rule_order
    where 1 = 0
    {%- endif %}
    {%- for audience_name, cohort_name, rule_order in rules %}
    select {{ sql_text(audience_name) }} as audience_name, {{ sql_text(cohort_name) }} as cohort_name, {{ rule_order }} as rule_order
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

eligible as (

    select
        audiences.audience_name,
        audiences.cohort_name,
        audiences.is_incentive,
        audiences.priority,
        audiences.amplitude_property,
        membership.person_key,
        membership.cio_id,
        membership.customer_id,
        membership.amplitude_user_id,
        membership.as_of,
        membership.data_through,
        membership.computed_at
    from audiences
    inner join membership on membership.cohort_name = audiences.cohort_name

),

suppressed as (

    select
        eligible.audience_name,
        eligible.person_key,
        {{ dbt.listagg('suppress_rules.cohort_name', "', '", 'order by suppress_rules.rule_order') }} as suppressed_by
    from eligible
    inner join suppress_rules on suppress_rules.audience_name = eligible.audience_name
    inner join membership
        on membership.cohort_name = suppress_rules.cohort_name
        and membership.person_key = eligible.person_key
    group by eligible.audience_name, eligible.person_key

),

candidates as (

    select
        eligible.*,
        suppressed.suppressed_by
    from eligible
    left join suppressed
        on suppressed.audience_name = eligible.audience_name
        and suppressed.person_key = eligible.person_key

),

best_incentive as (

    select
        candidates.person_key,
        min(candidates.priority) as priority
    from candidates
    where candidates.is_incentive and candidates.priority is not null and candidates.suppressed_by is null
    group by candidates.person_key

),

winners as (

    select
        best_incentive.person_key,
        best_incentive.priority,
        audiences.audience_name
    from best_incentive
    inner join audiences on audiences.is_incentive and audiences.priority = best_incentive.priority

),

decided as (

    select
        candidates.*,
        winners.audience_name as winning_audience,
        winners.priority as winning_priority,
        case
            when candidates.suppressed_by is not null then 'suppressed'
            when candidates.is_incentive and candidates.priority > winners.priority then 'outranked'
            else 'assigned'
        end as status
    from candidates
    left join winners on winners.person_key = candidates.person_key

),

final as (

    select
        {{ dbt.hash(dbt.concat(['audience_name', "'|'", 'person_key'])) }} as audience_assignment_key,
        audience_name,
        person_key,
        cio_id,
        customer_id,
        amplitude_user_id,
        cohort_name,
        is_incentive,
        priority,
        status,
        status = 'assigned' as is_assigned,
        cast(case
            when status = 'suppressed' then {{ dbt.concat(["'left out: also in '", 'suppressed_by']) }}
            when status = 'outranked' then {{ dbt.concat([
                "'outranked by '", 'winning_audience', "' (priority '",
                dbt.cast('winning_priority', dbt.type_string()), "' beats '",
                dbt.cast('priority', dbt.type_string()), "')'"]) }}
            when is_incentive and priority is null then {{ dbt.concat([
                "'in '", 'cohort_name', "'; incentive without a priority: not ranked against other incentives'"]) }}
            when is_incentive then {{ dbt.concat([
                "'in '", 'cohort_name', "'; the best-priority incentive this person is eligible for'"]) }}
            else {{ dbt.concat(["'in '", 'cohort_name']) }}
        end as {{ dbt.type_string() }}) as reason,
        winning_audience as winning_incentive_audience,
        suppressed_by,
        amplitude_property,
        as_of,
        data_through,
        computed_at
    from decided

)

select * from final
