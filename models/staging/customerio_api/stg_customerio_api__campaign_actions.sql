-- Campaign actions (GET /v1/campaigns/{id}/actions): the message tiles of each campaign.
with

source as (

    {{ source_or_empty('customerio_api', 'campaign_actions', {'id': dbt.type_bigint(), 'campaign_id': dbt.type_bigint(), 'parent_action_id': dbt.type_bigint(), 'name': dbt.type_string(), 'type': dbt.type_string(), 'subject': dbt.type_string(), 'language': dbt.type_string(), 'created': dbt.type_bigint(), 'updated': dbt.type_bigint(), 'deduplicate_id': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

),

-- dlt merges on the key already; one row per key here too, whatever loaded the table
deduplicated as (

    select
        *,
        row_number() over (partition by campaign_id, id order by _loaded_at desc) as row_rank
    from source

),

final as (

    select
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(id as {{ dbt.type_string() }}) as action_id,
        cast(parent_action_id as {{ dbt.type_string() }}) as parent_action_id,
        name as action_name,
        type as action_type,
        {{ normalize_channel('type') }} as channel,
        subject,
        nullif(language, '') as language,
        {{ epoch_to_timestamp('created') }} as created_at,
        {{ epoch_to_timestamp('updated') }} as updated_at,
        deduplicate_id,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from deduplicated
    where row_rank = 1

)

select * from final
