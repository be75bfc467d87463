with

source as (

    {{ source_or_empty('shop', 'orders', {
        'order_id': dbt.type_string(), 'customer_id': dbt.type_string(), 'email': dbt.type_string(),
        'ordered_at': 'timestamp with time zone', 'revenue': dbt.type_numeric(),
        'currency': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

),

final as (

    select
        order_id,
        nullif(trim(customer_id), '') as customer_id,
        lower(trim(nullif(email, ''))) as email,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        cast(revenue as {{ dbt.type_numeric() }}) as revenue,
        currency,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from source

)

select * from final
