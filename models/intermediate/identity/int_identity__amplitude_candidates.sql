-- The Amplitude user_id each person would get under the configured rule, and the
-- two kinds of conflict that make a mapping unsafe to push.
{{ config(materialized='table') }}
{%- set rule = var('amplitude_identity_rule') %}
{%- if rule not in ['customerio_id', 'email', 'mapping'] %}
    {{ exceptions.raise_compiler_error("var amplitude_identity_rule must be customerio_id, email or mapping; got '" ~ rule ~ "'") }}
{%- endif %}
with

people as (

    select * from {{ ref('int_identity__people_observed') }}

),

mapping as (

    select
        nullif(trim(cio_id), '') as cio_id,
        nullif(trim(customer_id), '') as customer_id,
        lower(nullif(trim(email), '')) as email,
        amplitude_user_id
    from {{ ref('amplitude_identity_map') }}

),

candidates as (

    select
        people.*,
        {%- if rule == 'customerio_id' %}
        people.customer_id as candidate_user_id,
        people.distinct_customer_ids as distinct_source_ids,
        'no Customer.io id (email-only person)' as missing_reason
        {%- elif rule == 'email' %}
        people.email as candidate_user_id,
        people.distinct_emails as distinct_source_ids,
        'no email address' as missing_reason
        {%- else %}
        coalesce(by_cio.amplitude_user_id, by_id.amplitude_user_id, by_email.amplitude_user_id) as candidate_user_id,
        1 as distinct_source_ids,
        'not in amplitude_identity_map' as missing_reason
        {%- endif %}
    from people
    {%- if rule == 'mapping' %}
    left join mapping as by_cio on by_cio.cio_id = people.cio_id
    left join mapping as by_id on by_id.customer_id = people.customer_id
    left join mapping as by_email on by_email.email = people.email
    {%- endif %}

),

final as (

    select
        person_key,
        cio_id,
        customer_id,
        email,
        candidate_user_id,
        '{{ rule }}' as identity_rule,
        distinct_source_ids,
        case when candidate_user_id is null then 0
             else count(*) over (partition by candidate_user_id) end as people_sharing_candidate,
        case
            when candidate_user_id is null then missing_reason
            when lower(candidate_user_id) in {{ sql_list(['anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '0', '-1', '00000000-0000-0000-0000-000000000000', '{}', 'lmy47d']) }}
                then 'id is a placeholder value Amplitude rejects'
            when distinct_source_ids > 1 then 'conflict: person seen with several identifiers for this rule'
            when count(*) over (partition by candidate_user_id) > 1 then 'conflict: several people map to this Amplitude user id'
        end as unresolved_reason,
        first_seen_at,
        last_seen_at,
        event_count
    from candidates

)

select * from final
