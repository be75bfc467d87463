-- People assigned two or more incentive audiences (the double-discount problem): only
-- possible when an incentive audience has no priority and no suppression separates it.
-- Warns here (the build is not wrong, the configuration is incomplete); `msgmetrics
-- doctor` fails on it before a push.
{{ config(severity='warn') }}

select
    person_key,
    count(*) as incentive_audiences,
    {{ dbt.listagg('audience_name', "', '", 'order by audience_name') }} as audiences
from {{ ref('audience_assignments') }}
where is_assigned and is_incentive
group by person_key
having count(*) > 1
