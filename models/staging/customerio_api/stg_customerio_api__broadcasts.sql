-- API-triggered broadcasts (GET /v1/broadcasts), one row each.
with

source as (

    {{ source_or_empty('customerio_api', 'broadcasts', {'id': dbt.type_bigint(), 'name': dbt.type_string(), 'type': dbt.type_string(), 'state': dbt.type_string(), 'active': dbt.type_boolean(), 'created': dbt.type_bigint(), 'updated': dbt.type_bigint(), 'deduplicate_id': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

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
        cast(id as {{ dbt.type_string() }}) as broadcast_id,
        name as broadcast_name,
        type as broadcast_type,
        state,
        active as is_active,
        {{ epoch_to_timestamp('created') }} as created_at,
        {{ epoch_to_timestamp('updated') }} as updated_at,
        deduplicate_id,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from deduplicated
    where row_rank = 1

)

select * from final
