-- Shop orders with the Customer.io person they belong to: by the order's customer_id
-- (the Customer.io `id`) when exactly one person carries it, else by its lower-cased
-- email when exactly one person carries that. Orders that match nobody, or several
-- people, keep a null person_key and say why (they are kept, never dropped).
-- A table: fct_purchases and the tests read it (a view would be recomputed by each).
{{ config(materialized='table') }}
with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

people as (

    -- the identity crosswalk (a table): the latest id and email observed for each person
    select * from {{ ref('xref_user_identity') }}

),

by_id as (

    select
        customer_id,
        max(person_key) as person_key,
        count(*) as people
    from people
    where customer_id is not null
    group by customer_id

),

by_email as (

    select
        email,
        max(person_key) as person_key,
        count(*) as people
    from people
    where email is not null
    group by email

),

final as (

    select
        orders.order_id,
        orders.ordered_at,
        orders.revenue,
        orders.currency,
        orders.customer_id,
        orders.email,
        case
            when by_id.people = 1 then by_id.person_key
            when by_email.people = 1 then by_email.person_key
        end as person_key,
        case
            when by_id.people = 1 then 'customer_id'
            when by_email.people = 1 then 'email'
        end as identity_match,
        case
            when by_id.people = 1 or by_email.people = 1 then null
            when by_id.people > 1 then 'several people share this customer_id'
            when by_email.people > 1 then 'several people share this email'
            when orders.customer_id is null and orders.email is null then 'order has neither customer_id nor email'
            else 'no Customer.io person with this customer_id or email'
        end as unresolved_reason,
        orders.loaded_at
    from orders
    left join by_id on by_id.customer_id = orders.customer_id
    left join by_email on by_email.email = orders.email

)

select * from final
