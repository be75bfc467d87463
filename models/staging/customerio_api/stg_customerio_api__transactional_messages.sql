-- Transactional messages (GET /v1/transactional), one row each.
with

source as (

    {{ source_or_empty('customerio_api', 'transactional_messages', {'id': dbt.type_bigint(), 'name': dbt.type_string(), 'description': dbt.type_string(), 'created_at': dbt.type_bigint(), 'updated_at': dbt.type_bigint(), '_loaded_at': 'timestamp with time zone'}) }}

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
        cast(id as {{ dbt.type_string() }}) as transactional_message_id,
        name as transactional_message_name,
        nullif(description, '') as description,
        {{ epoch_to_timestamp('created_at') }} as created_at,
        {{ epoch_to_timestamp('updated_at') }} as updated_at,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from deduplicated
    where row_rank = 1

)

select * from final
