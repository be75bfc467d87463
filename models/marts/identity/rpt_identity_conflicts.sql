-- Every identity conflict under the configured rule: a person seen with several
-- identifiers, or several people who would share one Amplitude user id. These
-- people are left unmapped in xref_user_identity; fix the data or the mapping.
with

candidates as (

    select * from {{ ref('int_identity__amplitude_candidates') }}

),

final as (

    select
        person_key,
        candidate_user_id,
        case
            when distinct_source_ids > 1 then 'one_person_many_ids'
            else 'one_amplitude_id_many_people'
        end as conflict_type,
        distinct_source_ids,
        people_sharing_candidate,
        identity_rule
    from candidates
    where unresolved_reason like 'conflict:%'

)

select * from final
