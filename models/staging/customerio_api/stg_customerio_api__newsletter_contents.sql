-- Newsletter contents (GET /v1/newsletters/{id}/contents): the language or A/B variants (content_id).
with

source as (

    {{ source_or_empty('customerio_api', 'newsletter_contents', {'id': dbt.type_bigint(), 'newsletter_id': dbt.type_bigint(), 'name': dbt.type_string(), 'type': dbt.type_string(), 'subject': dbt.type_string(), 'language': dbt.type_string(), 'created': dbt.type_bigint(), 'updated': dbt.type_bigint(), 'deduplicate_id': dbt.type_string(), '_loaded_at': 'timestamp with time zone'}) }}

),

-- dlt merges on the key already; one row per key here too, whatever loaded the table
deduplicated as (

    select
        *,
        row_number() over (partition by newsletter_id, id order by _loaded_at desc) as row_rank
    from source

),

final as (

    select
        cast(newsletter_id as {{ dbt.type_string() }}) as newsletter_id,
        cast(id as {{ dbt.type_string() }}) as content_id,
        name as content_name,
        type as content_type,
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
