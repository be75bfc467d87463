-- One row: the as_of the cohorts are computed for, the newest message event up to it
-- (data_through) and when this build ran (computed_at). Every cohort and audience row
-- carries these; a test fails when data_through lags as_of by more than
-- var cohort_max_data_lag_hours.
with

events as (

    select occurred_at from {{ ref('fct_message_events') }}
    where occurred_at <= {{ as_of_timestamp() }}

),

final as (

    select
        {{ as_of_timestamp() }} as as_of,
        max(occurred_at) as data_through,
        {{ computed_at_timestamp() }} as computed_at
    from events

)

select * from final
