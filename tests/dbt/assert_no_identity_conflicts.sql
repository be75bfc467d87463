-- Fails when one Amplitude id would map to two people or one person to two ids.
-- The people concerned are already left unmapped; this makes the problem loud.
{{ config(severity=var('identity_conflict_severity', 'error')) }}
select * from {{ ref('rpt_identity_conflicts') }}
