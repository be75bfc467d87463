{#- Cohort rule shapes. Each macro renders one `select` returning (cohort_name, person_key,
    reason, qualifying_event_at) for the people in the cohort at as_of. They read the CTE
    `signals` (int_cohorts__signals: person_key, signal, channel, intent, occurred_at,
    count_key) and, for combinations, the CTEs `cohort__<name>` of the cohorts combined.
    `cohort` is one validated entry of cohort_registry(). Windows are half-open:
    (as_of - N days, as_of]. -#}

{% macro cohort_select(cohort) -%}
    {%- if cohort['shape'] == 'engagement' -%}{{ cohort_engagement(cohort) }}
    {%- elif cohort['shape'] == 'absence' -%}{{ cohort_absence(cohort) }}
    {%- elif cohort['shape'] == 'sequence' -%}{{ cohort_sequence(cohort) }}
    {%- elif cohort['shape'] == 'transition' -%}{{ cohort_transition(cohort) }}
    {%- elif cohort['shape'] == 'combination' -%}{{ cohort_combination(cohort) }}
    {%- else -%}{{ exceptions.raise_compiler_error("no SQL for cohort shape " ~ cohort['shape']) }}
    {%- endif -%}
{%- endmacro %}

{#- SQL condition for an event filter {signal, channels, intents}. -#}
{% macro signal_condition(filter, alias='signals') -%}
    ({{ alias }}.signal = '{{ filter['signal'] }}'
    {%- if filter['channels'] %} and {{ alias }}.channel in {{ sql_list(filter['channels']) }}{% endif %}
    {%- if filter['intents'] %} and {{ alias }}.intent in {{ sql_list(filter['intents']) }}{% endif %})
{%- endmacro %}

{#- Words for an event filter: "human click(s) on sms with intent cart". -#}
{% macro signal_words(filter, plural=true) -%}
    {%- set label = cohort_signals()[filter['signal']][1 if plural else 0] -%}
    {{- label -}}
    {%- if filter['channels'] %} on {{ filter['channels'] | join('/') }}{% endif -%}
    {%- if filter['intents'] %} with intent {{ filter['intents'] | join('/') }}{% endif -%}
{%- endmacro %}

{#- "N <signal words>", singular when N = 1 (count_sql is a SQL expression). -#}
{% macro counted_words(count_sql, filter) -%}
    {{ dbt.concat([
        dbt.cast(count_sql, dbt.type_string()),
        "case when " ~ count_sql ~ " = 1 then ' " ~ signal_words(filter, plural=false) ~ "' else ' " ~ signal_words(filter) ~ "' end"]) }}
{%- endmacro %}

{% macro window_words(days) -%}
    {%- if days is none -%}up to as_of{%- else -%}in the {{ days }} days to as_of{%- endif -%}
{%- endmacro %}

{#- (as_of - days, as_of], or everything up to as_of when days is null. -#}
{% macro signal_window(days, column='signals.occurred_at') -%}
    {%- if days is none -%}
        ({{ column }} <= {{ as_of_timestamp() }})
    {%- else -%}
        {{ in_window_before_as_of(column, days) }}
    {%- endif -%}
{%- endmacro %}

{#- Engagement in a window: between min_count and max_count occurrences of the signal
    (deliveries count distinct deliveries). min_count 0 takes everyone seen by as_of. -#}
{% macro cohort_engagement(cohort) -%}
{%- set event = cohort['event'] -%}
{%- set reason = dbt.concat([counted_words('coalesce(counted.occurrences, 0)', event),
        "' " ~ window_words(cohort['window_days']) ~ "'",
        "case when counted.last_at is null then '' else ', the last at ' end",
        "coalesce(" ~ dbt.cast('counted.last_at', dbt.type_string()) ~ ", '')"]) -%}
select
    '{{ cohort['name'] }}' as cohort_name,
    {%- if cohort['min_count'] == 0 %}
    population.person_key,
    {%- else %}
    counted.person_key,
    {%- endif %}
    {{ reason }} as reason,
    counted.last_at as qualifying_event_at
from
    {%- if cohort['min_count'] == 0 %}
    (select distinct person_key from signals) as population
    left join
    {%- endif %}
    (
        select
            signals.person_key,
            count(distinct signals.count_key) as occurrences,
            max(signals.occurred_at) as last_at
        from signals
        where {{ signal_condition(event) }}
            and {{ signal_window(cohort['window_days']) }}
        group by signals.person_key
    ) as counted
    {%- if cohort['min_count'] == 0 %}
    on counted.person_key = population.person_key
    {%- endif %}
where coalesce(counted.occurrences, 0) >= {{ cohort['min_count'] }}
    {%- if cohort['max_count'] is not none %}
    and coalesce(counted.occurrences, 0) <= {{ cohort['max_count'] }}
    {%- endif %}
{%- endmacro %}

{#- Absence: at least min_received occurrences of `received` in the window and no
    `absent` signal in that same window. -#}
{% macro cohort_absence(cohort) -%}
{%- set reason = dbt.concat([counted_words('received.occurrences', cohort['received']),
        "' and no " ~ signal_words(cohort['absent'], plural=false) ~ " " ~ window_words(cohort['window_days']) ~ "'"]) -%}
select
    '{{ cohort['name'] }}' as cohort_name,
    received.person_key,
    {{ reason }} as reason,
    received.last_at as qualifying_event_at
from (
    select
        signals.person_key,
        count(distinct signals.count_key) as occurrences,
        max(signals.occurred_at) as last_at
    from signals
    where {{ signal_condition(cohort['received']) }}
        and {{ signal_window(cohort['window_days']) }}
    group by signals.person_key
    having count(distinct signals.count_key) >= {{ cohort['min_received'] }}
) as received
where not exists (
    select 1 from signals as absent
    where absent.person_key = received.person_key
        and {{ signal_condition(cohort['absent'], 'absent') }}
        and {{ signal_window(cohort['window_days'], 'absent.occurred_at') }}
)
{%- endmacro %}

{#- Sequence with a closed window: the person's latest `first` signal whose
    within_hours have passed by as_of (at most as_of - within_hours, and inside the
    window) was not followed by `then_no` within those hours: [first, first + hours]. -#}
{% macro cohort_sequence(cohort) -%}
{%- set hours = cohort['within_hours'] -%}
{%- set latest_close = dbt.dateadd('hour', -1 * hours, as_of_timestamp()) -%}
{%- set reason = dbt.concat(["'" ~ signal_words(cohort['first'], plural=false) ~ " at '",
        dbt.cast('latest.first_at', dbt.type_string()),
        "' and no " ~ signal_words(cohort['then_no'], plural=false) ~ " within " ~ hours ~ " hours'"]) -%}
select
    '{{ cohort['name'] }}' as cohort_name,
    latest.person_key,
    {{ reason }} as reason,
    latest.first_at as qualifying_event_at
from (
    select
        signals.person_key,
        max(signals.occurred_at) as first_at
    from signals
    where {{ signal_condition(cohort['first']) }}
        and signals.occurred_at <= {{ latest_close }}
        {%- if cohort['window_days'] is not none %}
        and signals.occurred_at > {{ dbt.dateadd('day', -1 * cohort['window_days'], as_of_timestamp()) }}
        {%- endif %}
    group by signals.person_key
) as latest
where not exists (
    select 1 from signals as followed
    where followed.person_key = latest.person_key
        and {{ signal_condition(cohort['then_no'], 'followed') }}
        and followed.occurred_at >= latest.first_at
        and followed.occurred_at <= {{ dbt.dateadd('hour', hours, 'latest.first_at') }}
)
{%- endmacro %}

{#- Transition: the signal in (as_of - since_days, as_of - quiet_days] and none in
    (as_of - quiet_days, as_of]. -#}
{% macro cohort_transition(cohort) -%}
{%- set quiet_start = dbt.dateadd('day', -1 * cohort['quiet_days'], as_of_timestamp()) -%}
{%- set reason = dbt.concat([counted_words('earlier.occurrences', cohort['event']),
        "' between " ~ cohort['since_days'] ~ " and " ~ cohort['quiet_days'] ~ " days before as_of, the last at '",
        dbt.cast('earlier.last_at', dbt.type_string()),
        "', and none in the " ~ cohort['quiet_days'] ~ " days to as_of'"]) -%}
select
    '{{ cohort['name'] }}' as cohort_name,
    earlier.person_key,
    {{ reason }} as reason,
    earlier.last_at as qualifying_event_at
from (
    select
        signals.person_key,
        count(distinct signals.count_key) as occurrences,
        max(signals.occurred_at) as last_at
    from signals
    where {{ signal_condition(cohort['event']) }}
        and signals.occurred_at > {{ dbt.dateadd('day', -1 * cohort['since_days'], as_of_timestamp()) }}
        and signals.occurred_at <= {{ quiet_start }}
    group by signals.person_key
) as earlier
where not exists (
    select 1 from signals as recent
    where recent.person_key = earlier.person_key
        and {{ signal_condition(cohort['event'], 'recent') }}
        and recent.occurred_at > {{ quiet_start }}
        and recent.occurred_at <= {{ as_of_timestamp() }}
)
{%- endmacro %}

{#- Combination: in every cohort of all_of and in none of none_of. The reason joins the
    parts' reasons; qualifying_event_at is the latest of theirs. -#}
{% macro cohort_combination(cohort) -%}
{%- set parts = cohort['all_of'] -%}
{%- set pieces = [] -%}
{%- for part in parts -%}
    {%- do pieces.append("'" ~ ('' if loop.first else '; ') ~ part ~ ": '") -%}
    {%- do pieces.append('in_' ~ loop.index ~ '.reason') -%}
{%- endfor -%}
{%- if cohort['none_of'] -%}
    {%- do pieces.append("'; not in " ~ cohort['none_of'] | join(', ') ~ "'") -%}
{%- endif -%}
select
    '{{ cohort['name'] }}' as cohort_name,
    in_1.person_key,
    {{ dbt.concat(pieces) }} as reason,
    {%- if parts | length == 1 %}
    in_1.qualifying_event_at
    {%- else %}
    greatest({% for part in parts %}in_{{ loop.index }}.qualifying_event_at{{ ", " if not loop.last }}{% endfor %})
    {%- endif %} as qualifying_event_at
from cohort__{{ parts[0] }} as in_1
{%- for part in parts[1:] %}
inner join cohort__{{ part }} as in_{{ loop.index + 1 }} on in_{{ loop.index + 1 }}.person_key = in_1.person_key
{%- endfor %}
where 1 = 1
{%- for part in cohort['none_of'] %}
    and not exists (select 1 from cohort__{{ part }} as out_{{ loop.index }} where out_{{ loop.index }}.person_key = in_1.person_key)
{%- endfor %}
{%- endmacro %}
