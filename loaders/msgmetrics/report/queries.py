"""The report's SQL, against the marts and the ledger, on a read-only connection.

Every function returns ``Missing`` when its table is not there (nothing built or pushed yet),
otherwise plain Python rows (an empty list when the table is empty). Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from .. import intent_gaps
from ..settings import LEDGER_SCHEMA
from ..source_freshness import EventSourceTimes, SourceLoad, event_source_times, raw_source_loads, utc_naive

COHORT_MEMBERSHIP = "marts.cohort_membership"
COHORT_SIZES_DAILY = "marts.cohort_sizes_daily"
DIM_COHORTS = "marts.dim_cohorts"
DIM_AUDIENCES = "marts.dim_audiences"
AUDIENCE_ASSIGNMENTS = "marts.audience_assignments"
PROPERTY_LOG = f"{LEDGER_SCHEMA}.amplitude_user_property_log"
PUSH_RUNS = f"{LEDGER_SCHEMA}.push_runs"
DELIVERIES = "marts.fct_message_deliveries"
EVENTS = "marts.fct_message_events"
MESSAGE_INTENTS = "marts.dim_message_intents"
WITHOUT_INTENT = "marts.rpt_messages_without_intent"
IDENTITY_COVERAGE = "marts.rpt_identity_coverage"
RUNS = f"{LEDGER_SCHEMA}.runs"
METRICS_DAILY = "marts.fct_message_metrics_daily"
NO_INTENT, NO_MESSAGE = "(no intent)", "(no message)"


@dataclass(frozen=True)
class Missing:
    """The table the section reads does not exist (or lacks the columns it needs)."""

    table: str
    detail: str = ""


def columns(con, qualified: str) -> list[str] | None:
    schema, table = qualified.split(".", 1)
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()
    return [r[0] for r in rows] or None


def _needs(con, qualified: str, required: set[str]) -> Missing | None:
    have = columns(con, qualified)
    if have is None:
        return Missing(qualified)
    lacking = sorted(required - set(have))
    if lacking:
        return Missing(qualified, f"it has no column(s) {', '.join(lacking)}")
    return None


# ---------------------------------------------------------------- 1. cohorts
@dataclass
class CohortSizes:
    rows: list[tuple[str, int, int]]  # cohort_name, members, members with an Amplitude user id
    as_of: list[datetime]


def cohort_sizes(con) -> CohortSizes | Missing:
    missing = _needs(con, COHORT_MEMBERSHIP, {"cohort_name", "amplitude_user_id", "as_of"})
    if missing:
        return missing
    rows = con.execute(f"""
        select cohort_name, count(*) as members, count(amplitude_user_id) as with_amplitude_id
        from {COHORT_MEMBERSHIP} group by cohort_name order by members desc, cohort_name
    """).fetchall()
    as_of = [utc_naive(r[0]) for r in con.execute(
        f"select distinct as_of from {COHORT_MEMBERSHIP} where as_of is not null order by 1").fetchall()]
    return CohortSizes(rows=rows, as_of=as_of)


@dataclass
class CohortHistory:
    rows: list[tuple[date, str, int, int | None, int | None]]  # day, cohort_name, members, entered, exited
    pushed: dict[str, bool]  # cohort_name -> pushed to Amplitude (building blocks are not)
    has_flows: bool  # the table has entered / exited


def cohort_history(con) -> CohortHistory | Missing:
    """Cohort sizes per as_of day, with the entries and exits the history recorded that day, from
    marts.cohort_sizes_daily (kept across rebuilds; `build --as-of D` for past days backfills it)."""
    missing = _needs(con, COHORT_SIZES_DAILY, {"day", "cohort_name", "members"})
    if missing:
        return missing
    have = set(columns(con, COHORT_SIZES_DAILY))
    flows = {"entered", "exited"} <= have
    flow_cols = "entered, exited" if flows else "null, null"
    rows = con.execute(f"""
        select cast(day as date) as day, cohort_name, members, {flow_cols}
        from {COHORT_SIZES_DAILY} where day is not null order by day, cohort_name
    """).fetchall()
    pushed = {}
    if _needs(con, DIM_COHORTS, {"cohort_name", "is_pushed"}) is None:
        pushed = dict(con.execute(f"select cohort_name, coalesce(is_pushed, false) from {DIM_COHORTS}").fetchall())
    return CohortHistory(rows, pushed, flows)


# ---------------------------------------------------------------- 1b. audiences
@dataclass
class AudienceRow:
    name: str
    cohort: str | None
    suppressed_by: str | None
    is_incentive: bool
    priority: int | None
    is_pushed: bool
    amplitude_property: str | None
    assigned_pushable: int  # assigned, with an Amplitude user id (what is pushed)
    assigned_unresolved: int  # assigned, no Amplitude user id
    suppressed: int
    outranked: int

    @property
    def assigned(self) -> int:
        return self.assigned_pushable + self.assigned_unresolved


def audiences(con) -> list[AudienceRow] | Missing:
    """Every audience of marts.dim_audiences with its assigned / suppressed / outranked people."""
    missing = (_needs(con, DIM_AUDIENCES, {"audience_name", "cohort_name", "is_incentive", "priority", "is_pushed",
                                           "amplitude_property", "suppressed_by_cohorts", "registry_order"})
               or _needs(con, AUDIENCE_ASSIGNMENTS, {"audience_name", "status", "amplitude_user_id"}))
    if missing:
        return missing
    rows = con.execute(f"""
        select d.audience_name, d.cohort_name, d.suppressed_by_cohorts, coalesce(d.is_incentive, false), d.priority,
               coalesce(d.is_pushed, false), d.amplitude_property,
               count(a.audience_name) filter (where a.status = 'assigned' and a.amplitude_user_id is not null),
               count(a.audience_name) filter (where a.status = 'assigned' and a.amplitude_user_id is null),
               count(a.audience_name) filter (where a.status = 'suppressed'),
               count(a.audience_name) filter (where a.status = 'outranked')
        from {DIM_AUDIENCES} as d
        left join {AUDIENCE_ASSIGNMENTS} as a on a.audience_name = d.audience_name
        group by all order by min(d.registry_order), d.audience_name
    """).fetchall()
    return [AudienceRow(*r) for r in rows]


# ---------------------------------------------------------------- 2. entries and exits
def property_names(con) -> dict[str, tuple[str, str]]:
    """Amplitude property -> (kind, name): 'cohort' from marts.dim_cohorts, 'audience' from
    marts.dim_audiences (whichever exist)."""
    names: dict[str, tuple[str, str]] = {}
    for kind, table, column in (("cohort", DIM_COHORTS, "cohort_name"), ("audience", DIM_AUDIENCES, "audience_name")):
        if _needs(con, table, {column, "amplitude_property"}) is None:
            for prop, name in con.execute(
                    f"select amplitude_property, {column} from {table} where amplitude_property is not null").fetchall():
                names.setdefault(prop, (kind, name))
    return names


@dataclass
class PropertyChanges:
    rows: list[tuple[date, str, int, int]]  # day, Amplitude property, entries ($set), exits ($unset)
    names: dict[str, tuple[str, str]]  # property -> (kind, name)
    first_day: date | None
    days_shown: int
    environment: str


def property_changes(con, days: int = 90, environment: str = "default") -> PropertyChanges | Missing:
    """The flags Amplitude accepted per day, for one environment (the ledger keeps each apart)."""
    missing = _needs(con, PROPERTY_LOG, {"operation", "accepted_at", "property_name", "environment"})
    if missing:
        return missing
    rows = con.execute(f"""
        with mine as (select * from {PROPERTY_LOG} where environment = ? and accepted_at is not null),
        last_day as (select max(cast(accepted_at as date)) as d from mine)
        select cast(accepted_at as date) as day, property_name,
               count(*) filter (where operation = 'set') as entries,
               count(*) filter (where operation = 'unset') as exits
        from mine, last_day
        where cast(accepted_at as date) > last_day.d - cast(? as integer)
        group by all order by day, property_name
    """, [environment, days]).fetchall()
    first = con.execute(f"select min(cast(accepted_at as date)) from {PROPERTY_LOG} where environment = ?",
                        [environment]).fetchone()[0]
    return PropertyChanges(rows=rows, names=property_names(con), first_day=first, days_shown=days,
                           environment=environment)


@dataclass
class LedgerEnvironment:
    name: str
    pushes: int  # push runs that were not dry runs
    last_push: datetime | None


def ledger_environments(con) -> list[LedgerEnvironment] | Missing:
    """Every environment the ledger holds pushes to, the most recent first."""
    missing = _needs(con, PUSH_RUNS, {"environment", "dry_run", "started_at"})
    if missing:
        return missing
    return [LedgerEnvironment(n, int(k), utc_naive(t)) for n, k, t in con.execute(f"""
        select environment, count(*) filter (where not coalesce(dry_run, false)),
               max(started_at) filter (where not coalesce(dry_run, false))
        from {PUSH_RUNS} where environment is not null group by 1 order by 3 desc nulls last, 1
    """).fetchall()]


# ---------------------------------------------------------------- 3. funnels
FUNNEL_DIMENSIONS = ("channel", "parent_type", "intent")
FUNNEL_FLAGS = {"was_sent", "was_delivered", "was_human_opened", "was_human_clicked"}


def _deliveries_with_intent(con) -> str | Missing:
    """fct_message_deliveries with the intent of each delivery's message (dim_message_intents)."""
    missing = (_needs(con, DELIVERIES, {"channel", "parent_type", "parent_id", "action_id", "content_id"} | FUNNEL_FLAGS)
               or _needs(con, MESSAGE_INTENTS, {"parent_type", "parent_id", "action_id", "content_id", "intent"}))
    if missing:
        return missing
    return f"""(
        select d.*, coalesce(i.intent, case when d.parent_type is null then '{NO_MESSAGE}' else '{NO_INTENT}' end)
                    as intent
        from {DELIVERIES} as d
        left join {MESSAGE_INTENTS} as i
            on i.parent_type = d.parent_type and i.parent_id = d.parent_id
            and i.action_id is not distinct from d.action_id and i.content_id is not distinct from d.content_id
    )"""


FUNNEL_COUNTS = """
               count(*) filter (where was_sent) as sent,
               count(*) filter (where was_delivered) as delivered,
               count(*) filter (where was_delivered and was_human_opened) as human_opened,
               count(*) filter (where was_delivered and was_human_clicked) as human_clicked"""


def funnel(con, by: str) -> list[tuple[str, int, int, int, int]] | Missing:
    """(group, sent, delivered, human opened, human clicked) deliveries, biggest group first."""
    if by not in FUNNEL_DIMENSIONS:
        raise ValueError(f"funnel by {by!r}: expected one of {FUNNEL_DIMENSIONS}")
    if by == "intent":
        relation = _deliveries_with_intent(con)
        if isinstance(relation, Missing):
            return relation
    else:
        missing = _needs(con, DELIVERIES, {by} | FUNNEL_FLAGS)
        if missing:
            return missing
        relation = DELIVERIES
    return con.execute(f"""
        select coalesce({by}, '(none)') as grp, {FUNNEL_COUNTS}
        from {relation} as deliveries group by all order by delivered desc, sent desc, grp
    """).fetchall()


def funnel_matrix(con) -> list[tuple[str, str, int, int, int, int]] | Missing:
    """(channel, intent, sent, delivered, human opened, human clicked) per channel and intent."""
    relation = _deliveries_with_intent(con)
    if isinstance(relation, Missing):
        return relation
    return con.execute(f"""
        select coalesce(channel, '(none)') as channel, intent, {FUNNEL_COUNTS}
        from {relation} as deliveries group by all order by channel, intent
    """).fetchall()


@dataclass
class WithoutIntent:
    messages: int
    deliveries: int
    all_messages: int | None  # rows of dim_message_intents
    top: list[tuple]  # parent_type, parent_id, action_id, content_id, channel, parent_name, message_name, deliveries, last_seen_at
    uses: list[intent_gaps.IntentUse]  # the pushed cohorts and audiences that filter by intent


def messages_without_intent(con, limit: int = 10) -> WithoutIntent | Missing:
    missing = _needs(con, WITHOUT_INTENT, {"parent_type", "parent_id", "action_id", "content_id", "channel",
                                           "parent_name", "message_name", "deliveries", "last_seen_at"})
    if missing:
        return missing
    n, deliveries = con.execute(f"select count(*), coalesce(sum(deliveries), 0) from {WITHOUT_INTENT}").fetchone()
    top = con.execute(f"""
        select parent_type, parent_id, action_id, content_id, channel, parent_name, message_name, deliveries,
               last_seen_at
        from {WITHOUT_INTENT} order by deliveries desc nulls last, parent_type, parent_id, action_id, content_id
        limit ?""", [limit]).fetchall()
    total = con.execute(f"select count(*) from {MESSAGE_INTENTS}").fetchone()[0] if columns(con, MESSAGE_INTENTS) else None
    uses = []
    if (_needs(con, DIM_COHORTS, {"cohort_name", "shape", "parameters", "is_pushed"}) is None
            and _needs(con, DIM_AUDIENCES, {"audience_name", "cohort_name", "suppressed_by_cohorts", "is_pushed"}) is None):
        uses = intent_gaps.intent_uses(
            con.execute(f"select cohort_name, shape, parameters, is_pushed from {DIM_COHORTS}").fetchall(),
            con.execute(f"select audience_name, cohort_name, suppressed_by_cohorts, is_pushed from {DIM_AUDIENCES}").fetchall())
    return WithoutIntent(int(n), int(deliveries), total, top, uses)


# ---------------------------------------------------------------- 4. machine vs human
@dataclass
class MachineHuman:
    weeks: list[tuple[date, int, int, int, int]]  # week start, human opens, machine opens, human clicks, machine clicks
    clicks_by_channel: list[tuple[str, int, int]]  # channel, human clicks, machine clicks


def machine_vs_human(con) -> MachineHuman | Missing:
    missing = _needs(con, EVENTS, {"metric", "is_human_open", "is_prefetched", "is_machine", "channel", "occurred_on"})
    if missing:
        return missing
    weeks = con.execute(f"""
        select cast(date_trunc('week', occurred_on) as date) as week,
               count(*) filter (where metric = 'opened' and not coalesce(is_prefetched, false)) as human_opens,
               count(*) filter (where metric = 'opened' and coalesce(is_prefetched, false)) as machine_opens,
               count(*) filter (where metric = 'clicked' and not coalesce(is_machine, false)) as human_clicks,
               count(*) filter (where metric = 'clicked' and coalesce(is_machine, false)) as machine_clicks
        from {EVENTS} where metric in ('opened', 'clicked') and occurred_on is not null
        group by all order by week
    """).fetchall()
    by_channel = con.execute(f"""
        select coalesce(channel, '(none)'),
               count(*) filter (where not coalesce(is_machine, false)),
               count(*) filter (where coalesce(is_machine, false))
        from {EVENTS} where metric = 'clicked' group by all order by count(*) desc, 1
    """).fetchall()
    return MachineHuman(weeks=weeks, clicks_by_channel=by_channel)


# ---------------------------------------------------------------- 5. identity coverage
def identity_coverage(con) -> list[tuple[str, str, bool, int, float]] | Missing:
    missing = _needs(con, IDENTITY_COVERAGE, {"measure", "outcome", "is_resolved", "n", "share"})
    if missing:
        return missing
    return con.execute(f"""
        select measure, outcome, is_resolved, n, share from {IDENTITY_COVERAGE}
        order by measure desc, is_resolved desc, n desc, outcome
    """).fetchall()


# ---------------------------------------------------------------- 6. freshness
@dataclass
class Freshness:
    newest_event: datetime | None = None
    newest_load: datetime | None = None
    as_of: datetime | None = None
    sources: list[SourceLoad] = field(default_factory=list)  # newest _loaded_at per raw source present
    event_sources: list[EventSourceTimes] = field(default_factory=list)  # per fct_message_events.event_source
    missing: dict[str, Missing] = field(default_factory=dict)  # which measure could not be read


def freshness(con) -> Freshness:
    out = Freshness(sources=raw_source_loads(con))
    missing = _needs(con, EVENTS, {"occurred_at", "loaded_at", "event_source"})
    if missing:
        out.missing["newest_event"] = out.missing["newest_load"] = missing
    else:
        out.newest_event, out.newest_load = (utc_naive(v) for v in con.execute(
            f"select max(occurred_at), max(loaded_at) from {EVENTS}").fetchone())
        out.event_sources = event_source_times(con)
    missing = _needs(con, COHORT_MEMBERSHIP, {"as_of"})
    if missing:
        out.missing["as_of"] = missing
    else:
        out.as_of = utc_naive(con.execute(f"select max(as_of) from {COHORT_MEMBERSHIP}").fetchone()[0])
    return out


# ---------------------------------------------------------------- 6b. sources
@dataclass
class Sources:
    days: list[tuple[date, str, int]]  # day, event_source, events kept in fct_message_events
    deliveries: list[tuple[str, int]]  # event_sources of fct_message_deliveries (e.g. 'app_api, webhook'), deliveries


def sources(con) -> Sources | Missing:
    missing = _needs(con, EVENTS, {"event_source", "occurred_on"})
    if missing:
        return missing
    days = con.execute(f"""
        select occurred_on, event_source, count(*) from {EVENTS}
        where occurred_on is not null group by all order by 1, 2
    """).fetchall()
    deliveries = []
    if _needs(con, DELIVERIES, {"event_sources"}) is None:
        deliveries = con.execute(f"""
            select coalesce(event_sources, '(none)'), count(*) from {DELIVERIES} group by 1 order by 2 desc, 1
        """).fetchall()
    return Sources(days, deliveries)


# ---------------------------------------------------------------- 7. runs
def _json(value):
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Runs:
    rows: list[dict]  # oldest first; row["push_environment"]: where its push went (None: no push)
    environment: str


def runs(con, limit: int = 20, environment: str = "default") -> Runs | Missing:
    missing = _needs(con, RUNS, {"run_id", "command", "started_at", "finished_at", "status"})
    if missing:
        return missing
    cursor = con.execute(f"select * from {RUNS} order by started_at desc nulls last limit ?", [limit])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    push_envs = {}
    if _needs(con, PUSH_RUNS, {"run_id", "environment"}) is None:
        push_envs = dict(con.execute(f"select run_id, environment from {PUSH_RUNS}").fetchall())
    for row in rows:
        for key in ("load_ids", "loaded", "dbt_results", "pushed"):
            row[key] = _json(row.get(key))
        row["started_at"], row["finished_at"] = utc_naive(row["started_at"]), utc_naive(row["finished_at"])
        pushed = row.get("pushed") if isinstance(row.get("pushed"), dict) else {}
        row["push_environment"] = (pushed.get("environment") or push_envs.get(row.get("push_run_id"))
                                   if pushed or row.get("push_run_id") else None)
    rows.reverse()  # oldest first, for a left-to-right timeline
    return Runs(rows, environment)


@dataclass
class Push:
    run_id: str
    started_at: datetime | None
    status: str | None
    events_accepted: int
    events_rejected: int
    sets_accepted: int  # $set rows Amplitude accepted (ledger)
    unsets_accepted: int


def pushes(con, environment: str = "default", limit: int = 20) -> list[Push] | Missing:
    """The last pushes (not dry runs) to one environment, oldest first, with what Amplitude accepted."""
    missing = _needs(con, PUSH_RUNS, {"run_id", "environment", "started_at", "dry_run", "status", "events_accepted",
                                      "events_rejected"})
    if missing:
        return missing
    log_join = ""
    counts = "0, 0"
    if _needs(con, PROPERTY_LOG, {"run_id", "operation", "environment"}) is None:
        log_join = f"""left join (
            select run_id, count(*) filter (where operation = 'set') as sets,
                   count(*) filter (where operation = 'unset') as unsets
            from {PROPERTY_LOG} where environment = ? group by run_id
        ) as log on log.run_id = p.run_id"""
        counts = "coalesce(log.sets, 0), coalesce(log.unsets, 0)"
    params = [environment] if log_join else []
    rows = con.execute(f"""
        select p.run_id, p.started_at, p.status, coalesce(p.events_accepted, 0), coalesce(p.events_rejected, 0), {counts}
        from {PUSH_RUNS} as p {log_join}
        where p.environment = ? and not coalesce(p.dry_run, false)
        order by p.started_at desc nulls last limit ?
    """, params + [environment, limit]).fetchall()
    return [Push(r[0], utc_naive(r[1]), r[2], *map(int, r[3:])) for r in reversed(rows)]


# ---------------------------------------------------------------- 8. daily volume
def daily_volume(con) -> list[tuple[date, int, int, int]] | Missing:
    """(metric_date, sends, deliveries, unique human clicks) over all channels."""
    missing = _needs(con, METRICS_DAILY, {"metric_date", "sends", "deliveries", "unique_human_clicks"})
    if missing:
        return missing
    return con.execute(f"""
        select metric_date, sum(sends), sum(deliveries), sum(unique_human_clicks)
        from {METRICS_DAILY} where metric_date is not null group by all order by metric_date
    """).fetchall()
