"""The report's SQL, against the marts and the ledger, on a read-only connection.

Every function returns ``Missing`` when its table is not there (nothing built or pushed yet),
otherwise plain Python rows (an empty list when the table is empty). Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from ..settings import LEDGER_SCHEMA

COHORT_MEMBERSHIP = "marts.cohort_membership"
COHORT_SIZES_DAILY = "marts.cohort_sizes_daily"
COHORT_MEMBERSHIP_HISTORY = "marts.cohort_membership_history"
PROPERTY_LOG = f"{LEDGER_SCHEMA}.amplitude_user_property_log"
DELIVERIES = "marts.fct_message_deliveries"
EVENTS = "marts.fct_message_events"
IDENTITY_COVERAGE = "marts.rpt_identity_coverage"
RUNS = f"{LEDGER_SCHEMA}.runs"
METRICS_DAILY = "marts.fct_message_metrics_daily"
COHORT_PROPERTY_PREFIX = "cio_cohort_"  # dbt var amplitude_cohort_property_prefix


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


def utc_naive(value):
    """DuckDB returns TIMESTAMP as naive (already UTC here) and TIMESTAMPTZ as aware."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


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
    table: str
    rows: list[tuple[date, str, int]]  # day, cohort_name, members


def cohort_history(con) -> CohortHistory | Missing:
    """Cohort sizes per day, from marts.cohort_sizes_daily(day, cohort_name, members) or, failing
    that, marts.cohort_membership_history (one row per member and as_of; the last as_of of a day)."""
    if columns(con, COHORT_SIZES_DAILY) is not None:
        missing = _needs(con, COHORT_SIZES_DAILY, {"day", "cohort_name", "members"})
        if missing:
            return missing
        rows = con.execute(f"""
            select cast(day as date) as day, cohort_name, sum(members) as members
            from {COHORT_SIZES_DAILY} where day is not null group by all order by day, cohort_name
        """).fetchall()
        return CohortHistory(COHORT_SIZES_DAILY, rows)
    if columns(con, COHORT_MEMBERSHIP_HISTORY) is not None:
        missing = _needs(con, COHORT_MEMBERSHIP_HISTORY, {"as_of", "cohort_name"})
        if missing:
            return missing
        rows = con.execute(f"""
            with last_per_day as (
                select cast(as_of as date) as day, max(as_of) as as_of
                from {COHORT_MEMBERSHIP_HISTORY} where as_of is not null group by 1
            )
            select d.day, h.cohort_name, count(*) as members
            from {COHORT_MEMBERSHIP_HISTORY} h join last_per_day d on h.as_of = d.as_of
            group by all order by d.day, h.cohort_name
        """).fetchall()
        return CohortHistory(COHORT_MEMBERSHIP_HISTORY, rows)
    return Missing(COHORT_SIZES_DAILY)


# ---------------------------------------------------------------- 2. entries and exits
@dataclass
class PropertyChanges:
    rows: list[tuple[date, str, int, int]]  # day, cohort, entries ($set), exits ($unset)
    first_day: date | None
    days_shown: int


def property_changes(con, days: int = 90) -> PropertyChanges | Missing:
    missing = _needs(con, PROPERTY_LOG, {"operation", "accepted_at", "property_name"})
    if missing:
        return missing
    rows = con.execute(f"""
        with last_day as (select max(cast(accepted_at as date)) as d from {PROPERTY_LOG})
        select cast(accepted_at as date) as day,
               case when starts_with(property_name, ?) then substr(property_name, {len(COHORT_PROPERTY_PREFIX) + 1})
                    else property_name end as cohort,
               count(*) filter (where operation = 'set') as entries,
               count(*) filter (where operation = 'unset') as exits
        from {PROPERTY_LOG}, last_day
        where accepted_at is not null and cast(accepted_at as date) > last_day.d - cast(? as integer)
        group by all order by day, cohort
    """, [COHORT_PROPERTY_PREFIX, days]).fetchall()
    first = con.execute(f"select min(cast(accepted_at as date)) from {PROPERTY_LOG}").fetchone()[0]
    return PropertyChanges(rows=rows, first_day=first, days_shown=days)


# ---------------------------------------------------------------- 3. funnels
FUNNEL_DIMENSIONS = ("channel", "parent_type")


def funnel(con, by: str) -> list[tuple[str, int, int, int, int]] | Missing:
    """(group, sent, delivered, human opened, human clicked) deliveries, biggest group first."""
    if by not in FUNNEL_DIMENSIONS:
        raise ValueError(f"funnel by {by!r}: expected one of {FUNNEL_DIMENSIONS}")
    missing = _needs(con, DELIVERIES, {by, "was_sent", "was_delivered", "was_human_opened", "was_human_clicked"})
    if missing:
        return missing
    return con.execute(f"""
        select coalesce({by}, '(none)') as grp,
               count(*) filter (where was_sent) as sent,
               count(*) filter (where was_delivered) as delivered,
               count(*) filter (where was_delivered and was_human_opened) as human_opened,
               count(*) filter (where was_delivered and was_human_clicked) as human_clicked
        from {DELIVERIES} group by all order by delivered desc, sent desc, grp
    """).fetchall()


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
    missing: dict[str, Missing] = field(default_factory=dict)  # which measure could not be read


def freshness(con) -> Freshness:
    out = Freshness()
    missing = _needs(con, EVENTS, {"occurred_at", "loaded_at"})
    if missing:
        out.missing["newest_event"] = out.missing["newest_load"] = missing
    else:
        out.newest_event, out.newest_load = (utc_naive(v) for v in con.execute(
            f"select max(occurred_at), max(loaded_at) from {EVENTS}").fetchone())
    missing = _needs(con, COHORT_MEMBERSHIP, {"as_of"})
    if missing:
        out.missing["as_of"] = missing
    else:
        out.as_of = utc_naive(con.execute(f"select max(as_of) from {COHORT_MEMBERSHIP}").fetchone()[0])
    return out


# ---------------------------------------------------------------- 7. runs
def _json(value):
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def runs(con, limit: int = 20) -> list[dict] | Missing:
    missing = _needs(con, RUNS, {"run_id", "command", "started_at", "finished_at", "status"})
    if missing:
        return missing
    cursor = con.execute(f"select * from {RUNS} order by started_at desc nulls last limit ?", [limit])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    for row in rows:
        for key in ("load_ids", "loaded", "dbt_results", "pushed"):
            row[key] = _json(row.get(key))
        row["started_at"], row["finished_at"] = utc_naive(row["started_at"]), utc_naive(row["finished_at"])
    rows.reverse()  # oldest first, for a left-to-right timeline
    return rows


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
