-- Who is in which cohort at as_of, why, and the Amplitude user id to push to
-- (null when the person's identity does not resolve: such rows are never pushed).
{%- set cohorts = ['high_intent_engagers', 'fatigue_risk', 'sms_clickers_14d'] %}
with

members as (

    {%- for cohort in cohorts %}
    select * from {{ ref('int_cohorts__' ~ cohort) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

identity as (

    select * from {{ ref('xref_user_identity') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['members.cohort_name', "'|'", 'members.person_key'])) }} as cohort_membership_key,
        members.cohort_name,
        members.person_key,
        identity.cio_id,
        identity.customer_id,
        identity.amplitude_user_id,
        members.reason,
        members.qualifying_event_at,
        {{ as_of_timestamp() }} as as_of
    from members
    left join identity on identity.person_key = members.person_key

)

select * from final
