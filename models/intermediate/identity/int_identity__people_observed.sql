-- One row per Customer.io person seen in message events, with the identifiers
-- observed for them: the latest `id` and email, and how many distinct ones.
with

events as (

    select person_key, cio_id, customer_id, email, occurred_at, event_id
    from {{ ref('int_messaging__events_unioned') }}
    where person_key is not null

),

ids as (

    select
        person_key,
        customer_id,
        row_number() over (partition by person_key order by max(occurred_at) desc, customer_id) as recency_rank,
        count(*) over (partition by person_key) as distinct_ids
    from events
    where customer_id is not null
    group by person_key, customer_id

),

emails as (

    select
        person_key,
        email,
        row_number() over (partition by person_key order by max(occurred_at) desc, email) as recency_rank,
        count(*) over (partition by person_key) as distinct_emails
    from events
    where email is not null
    group by person_key, email

),

people as (

    select
        person_key,
        max(cio_id) as cio_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as event_count
    from events
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
        people.event_count
    from people
    left join ids on ids.person_key = people.person_key and ids.recency_rank = 1
    left join emails on emails.person_key = people.person_key and emails.recency_rank = 1

)

select * from final
