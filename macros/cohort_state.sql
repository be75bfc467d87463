{#- What int_cohorts__person_states needs to tell, per person, whether the cohort rules could
    give another answer than at the last build (see docs/decisions.md, "Cohorts are
    recomputed per person"). -#}

{#- The (amount, unit) offsets at which a signal at time t can change a rule's answer as
    as_of moves: every window edge of the registry (t + window_days, t + within_hours,
    t + quiet_days, t + since_days). Offset 0 (as_of passing t itself) needs no breakpoint:
    the signals view stops at as_of, so the signal's arrival changes the person's
    fingerprint. -#}
{% macro cohort_breakpoint_offsets() -%}
    {%- set offsets = [] -%}
    {%- for cohort in cohort_registry() -%}
        {%- for key, unit in [('window_days', 'day'), ('quiet_days', 'day'), ('since_days', 'day'), ('within_hours', 'hour')] -%}
            {%- if cohort.get(key) is not none and (cohort[key], unit) not in offsets -%}
                {%- do offsets.append((cohort[key], unit)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(offsets | sort) }}
{%- endmacro %}

{#- The rules as compiled, as_of left out: another registry, another rule macro or another
    adapter's SQL gives another fingerprint, and every person is recomputed. -#}
{% macro cohort_rules_fingerprint() -%}
    {%- set rules = [] -%}
    {%- for cohort in cohort_registry() -%}
        {%- do rules.append(cohort['name'] ~ ':' ~ cohort_select(cohort)) -%}
    {%- endfor -%}
    {{ return(local_md5(rules | join('\n') | replace(as_of_timestamp(), 'AS_OF'))) }}
{%- endmacro %}

{#- A number from the row's values whose sum over a person's rows changes when any row
    does (a 64-bit hash; its sum is exact). -#}
{% macro row_hash_number(columns) -%}
    {{ return(adapter.dispatch('row_hash_number', 'msgmetrics')(columns)) }}
{%- endmacro %}
{% macro duckdb__row_hash_number(columns) -%}
    cast(hash({{ columns | join(', ') }}) as hugeint)
{%- endmacro %}
{% macro snowflake__row_hash_number(columns) -%}
    cast(hash({{ columns | join(', ') }}) as number(38, 0))
{%- endmacro %}
{% macro bigquery__row_hash_number(columns) -%}
    mod(farm_fingerprint(to_json_string(struct({{ columns | join(', ') }}))), 4294967296)
{%- endmacro %}
{#- PostgreSQL and others: 60 bits of an md5 of the values, as numeric so the sum cannot overflow. -#}
{% macro default__row_hash_number(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(" ~ dbt.cast(column, dbt.type_string()) ~ ", '~')") -%}
    {%- endfor -%}
    cast(('x' || substr(md5({{ parts | join(" || '|' || ") }}), 1, 15))::bit(60)::bigint as numeric)
{%- endmacro %}

{#- When this dbt invocation started, to the microsecond: which build (re)computed a row.
    Distinct for any two builds, unlike computed_at_timestamp (whole seconds). -#}
{% macro build_started_timestamp() -%}
    cast('{{ run_started_at.astimezone(modules.pytz.utc).strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
