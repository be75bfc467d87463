-- One row per Customer.io person seen in message events, with the identifiers
-- observed for them: the latest `id` and email, and how many distinct ones.
-- Incremental: a build recomputes, from all of their rows, the people with rows loaded
-- since the last build (new, late or re-loaded events) and the people whose number of
-- rows from replaceable sources changed (a row that moved to another person: a re-exported
-- delivery, a re-read App API delivery). Webhook rows are never replaced (see
-- message_event_sources), so they are not counted again: that count over every event was
-- half of this model's time at 10M events. People left with no row get a row with
-- event_count 0, which the post-hook deletes, so the table equals a full refresh.
{{ config(
    materialized='incremental',
    unique_key='person_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook="delete from {{ this }} where event_count = 0"
) }}

-- (int_messaging__events_unioned is read in each CTE, not through one shared CTE that DuckDB
-- would materialize whole.)
{#- a table stored before replaceable_event_count existed: everyone is recomputed once -#}
{%- set counts_stored = is_incremental() and stored_table_has_column('replaceable_event_count') %}
{%- set events %}
    select person_key, event_source, cio_id, customer_id, email, occurred_at, loaded_at
    from {{ ref('int_messaging__events_unioned') }}
    where person_key is not null
{%- endset %}

with

{% if is_incremental() %}
previous as (

    select
        person_key,
        {{ 'replaceable_event_count' if counts_stored else 'cast(-1 as ' ~ dbt.type_bigint() ~ ')' }} as replaceable_event_count
    from {{ this }}

),

replaceable_counts as (

    select person_key, count(*) as replaceable_event_count
    from ({{ events }}) as events
    where event_source in {{ sql_list(replaced_row_sources()) }}
    group by person_key

),

touched as (

    select person_key from ({{ events }}) as events
    where loaded_at > (select {{ loaded_at_watermark('last_loaded_at') }} from {{ this }})

    union

    select coalesce(replaceable_counts.person_key, previous.person_key) as person_key
    from replaceable_counts
    full outer join previous on previous.person_key = replaceable_counts.person_key
    where coalesce(replaceable_counts.replaceable_event_count, 0) <> coalesce(previous.replaceable_event_count, 0)

),

selected as (

    select events.*
    from ({{ events }}) as events
    inner join touched on touched.person_key = events.person_key

),
{% else %}
selected as (

    {{ events }}

),
{% endif %}

ids as (

    select
        person_key,
        customer_id,
        row_number() over (partition by person_key order by max(occurred_at) desc, customer_id) as recency_rank,
        count(*) over (partition by person_key) as distinct_ids
    from selected
    where customer_id is not null
    group by person_key, customer_id

),

emails as (

    select
        person_key,
        email,
        row_number() over (partition by person_key order by max(occurred_at) desc, email) as recency_rank,
        count(*) over (partition by person_key) as distinct_emails
    from selected
    where email is not null
    group by person_key, email

),

people as (

    select
        person_key,
        max(cio_id) as cio_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as event_count,
        count(case when event_source in {{ sql_list(replaced_row_sources()) }} then 1 end) as replaceable_event_count,
        max(loaded_at) as last_loaded_at
    from selected
    group by person_key

),

final as (

    select
        people.person_key,
        people.cio_id,
        ids.customer_id,
        emails.email,
        coalesce(ids.distinct_ids, 0) as distinct_customer_ids,
        coalesce(emails.distinct_emails, 0) as distinct_emails,
        people.first_seen_at,
        people.last_seen_at,
        people.event_count,
        people.replaceable_event_count,
        people.last_loaded_at
    from people
    left join ids on ids.person_key = people.person_key and ids.recency_rank = 1
    left join emails on emails.person_key = people.person_key and emails.recency_rank = 1
    {%- if is_incremental() %}

    union all

    select
        person_key,
        cast(null as {{ dbt.type_string() }}) as cio_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as email,
        0 as distinct_customer_ids,
        0 as distinct_emails,
        cast(null as {{ dbt.type_timestamp() }}) as first_seen_at,
        cast(null as {{ dbt.type_timestamp() }}) as last_seen_at,
        0 as event_count,
        0 as replaceable_event_count,
        cast(null as {{ dbt.type_timestamp() }}) as last_loaded_at
    -- people who have no row any more (all of theirs moved to others): a tombstone each
    from touched
    where not exists (select 1 from people where people.person_key = touched.person_key)
    {%- endif %}

)

select * from final
