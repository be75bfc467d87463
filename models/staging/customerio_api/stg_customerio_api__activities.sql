-- Workspace activities (GET /v1/activities, an optional resource; Customer.io keeps 30 days).
with

source as (

    {{ source_or_empty('customerio_api', 'activities', {'id': dbt.type_string(), 'type': dbt.type_string(), 'timestamp': dbt.type_bigint(), 'customer_id': dbt.type_string(), 'delivery_id': dbt.type_string(), 'delivery_type': dbt.type_string(), 'name': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

),

-- dlt merges on the key already; one row per key here too, whatever loaded the table
deduplicated as (

    select
        *,
        row_number() over (partition by id order by _loaded_at desc) as row_rank
    from source

),

final as (

    select
        id as activity_id,
        type as activity_type,
        {{ epoch_to_timestamp('"timestamp"') }} as occurred_at,
        nullif(customer_id, '') as customer_id,
        delivery_id,
        delivery_type,
        name as activity_name,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from deduplicated
    where row_rank = 1

)

select * from final
