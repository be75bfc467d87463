-- One row per person with cohort signals up to as_of (or who had some at an earlier build):
-- what their cohort rows were computed from. A person's rows in int_cohorts__members are a
-- function of their own signal rows, as_of and the rules, and stay the same while
-- - the fingerprint of their signal rows (count and sum of row hashes) is the same,
-- - the rules are the same (rules_fingerprint), and
-- - as_of stays in [valid_from, valid_until): between the two window edges (a signal time
--   plus a window of the registry) around it.
-- Incremental (delete+insert on person_key): each build rewrites the rows of the people for
-- whom one of these no longer holds, stamped with the build (state_built_at), and
-- int_cohorts__members recomputes exactly those people. A person whose signals all went
-- (an event re-attributed, as_of moved back) keeps a row with signal_count 0, so that their
-- cohort rows are deleted once.
{{ config(
    materialized='incremental',
    unique_key='person_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}
{%- set offsets = cohort_breakpoint_offsets() %}
{%- set never_before = "cast('1900-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")" %}
{%- set never_after = "cast('9999-12-31 00:00:00' as " ~ dbt.type_timestamp() ~ ")" %}
{%- set rules_fingerprint = "cast('" ~ cohort_rules_fingerprint() ~ "' as " ~ dbt.type_string() ~ ")" %}
with

signals as (

    select * from {{ ref('int_cohorts__signals') }}

),

fingerprints as (

    select
        person_key,
        count(*) as signal_count,
        sum({{ row_hash_number(['signal', 'channel', 'intent', 'occurred_at', 'count_key']) }}) as signal_hash,
        {#- the last edge at or before as_of, the first after it: max/min of t over the signals
            on either side of as_of - offset, plus the offset -#}
        {%- if offsets %}
        greatest(
            {%- for amount, unit in offsets %}
            coalesce({{ dbt.dateadd(unit, amount, 'max(case when occurred_at <= ' ~ dbt.dateadd(unit, -1 * amount, as_of_timestamp()) ~ ' then occurred_at end)') }}, {{ never_before }}){{ ',' if not loop.last }}
            {%- endfor %}
        ) as valid_from,
        least(
            {%- for amount, unit in offsets %}
            coalesce({{ dbt.dateadd(unit, amount, 'min(case when occurred_at > ' ~ dbt.dateadd(unit, -1 * amount, as_of_timestamp()) ~ ' then occurred_at end)') }}, {{ never_after }}){{ ',' if not loop.last }}
            {%- endfor %}
        ) as valid_until
        {%- else %}
        {{ never_before }} as valid_from,
        {{ never_after }} as valid_until
        {%- endif %}
    from signals
    group by person_key

),

current_states as (

    select
        person_key,
        signal_count,
        signal_hash,
        valid_from,
        valid_until,
        {{ rules_fingerprint }} as rules_fingerprint,
        {{ as_of_timestamp() }} as as_of,
        {{ build_started_timestamp() }} as state_built_at
    from fingerprints

),

{% if is_incremental() %}
stored_states as (

    select * from {{ this }}

),

changed as (

    select current_states.*
    from current_states
    left join stored_states on stored_states.person_key = current_states.person_key
    where stored_states.person_key is null
        or stored_states.signal_count <> current_states.signal_count
        or stored_states.signal_hash <> current_states.signal_hash
        or stored_states.rules_fingerprint <> current_states.rules_fingerprint
        or current_states.as_of < stored_states.valid_from
        or current_states.as_of >= stored_states.valid_until

),

vanished as (

    select
        stored_states.person_key,
        0 as signal_count,
        0 as signal_hash,
        {{ never_before }} as valid_from,
        {{ never_after }} as valid_until,
        {{ rules_fingerprint }} as rules_fingerprint,
        {{ as_of_timestamp() }} as as_of,
        {{ build_started_timestamp() }} as state_built_at
    from stored_states
    where stored_states.signal_count > 0
        and not exists (select 1 from current_states where current_states.person_key = stored_states.person_key)

),

final as (

    select * from changed
    union all
    select * from vanished

)
{% else %}
final as (

    select * from current_states

)
{% endif %}

select * from final
