-- Broadcast actions (GET /v1/broadcasts/{id}/actions): the messages of each broadcast.
with

source as (

    {{ source_or_empty('customerio_api', 'broadcast_actions', {'id': dbt.type_bigint(), 'broadcast_id': dbt.type_bigint(), 'name': dbt.type_string(), 'type': dbt.type_string(), 'subject': dbt.type_string(), 'created': dbt.type_bigint(), 'updated': dbt.type_bigint(), 'deduplicate_id': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

),

-- dlt merges on the key already; one row per key here too, whatever loaded the table
deduplicated as (

    select
        *,
        row_number() over (partition by broadcast_id, id order by _loaded_at desc) as row_rank
    from source

),

final as (

    select
        cast(broadcast_id as {{ dbt.type_string() }}) as broadcast_id,
        cast(id as {{ dbt.type_string() }}) as action_id,
        name as action_name,
        type as action_type,
        {{ normalize_channel('type') }} as channel,
        subject,
        {{ epoch_to_timestamp('created') }} as created_at,
        {{ epoch_to_timestamp('updated') }} as updated_at,
        deduplicate_id,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from deduplicated
    where row_rank = 1

)

select * from final
