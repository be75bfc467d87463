"""What the next push must send: the marts minus the ledger, computed in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import LEDGER_SCHEMA as S
from ..warehouse_sql import table_exists

MARTS = "marts"
INSERT_ID_DEDUP_DAYS = 7  # Amplitude deduplicates an insert_id for 7 days


@dataclass
class PushPlan:
    events: list[dict]  # rows of fct_amplitude_events not yet accepted
    property_sets: list[tuple[str, str]]  # (user_id, property) to $set
    property_unsets: list[tuple[str, str]]  # (user_id, property) to $unset
    stale_resends: int = 0  # planned events first attempted > 7 days ago, never confirmed

    @property
    def is_empty(self) -> bool:
        return not (self.events or self.property_sets or self.property_unsets)


def _rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def check_marts_exist(con) -> None:
    missing = [t for t in ("fct_amplitude_events", "fct_amplitude_user_properties") if not table_exists(con, MARTS, t)]
    if missing:
        raise RuntimeError(
            f"the warehouse has no {', '.join(MARTS + '.' + t for t in missing)}: "
            "run `msgmetrics build` before `msgmetrics push`"
        )


def compute_plan(con) -> PushPlan:
    # Events Amplitude refused for good (a 400 naming them) are not resent every run: fix the
    # data, then delete their rows from amplitude_dead_letters to send them again.
    events = _rows(con, f"""
        select e.*
        from {MARTS}.fct_amplitude_events as e
        anti join {S}.amplitude_events_sent as s on s.insert_id = e.insert_id
        anti join {S}.amplitude_dead_letters as d on d.kind = 'events' and d.record_key = e.insert_id
        order by e.user_id, e.time_ms, e.insert_id
    """)
    sets = con.execute(f"""
        select d.user_id, d.property_name
        from {MARTS}.fct_amplitude_user_properties as d
        anti join {S}.amplitude_user_properties_current as c
            on c.user_id = d.user_id and c.property_name = d.property_name
        order by 1, 2
    """).fetchall()
    # Only properties msgmetrics itself set can be unset: the ledger is the scope.
    unsets = con.execute(f"""
        select c.user_id, c.property_name
        from {S}.amplitude_user_properties_current as c
        anti join {MARTS}.fct_amplitude_user_properties as d
            on d.user_id = c.user_id and d.property_name = c.property_name
        order by 1, 2
    """).fetchall()
    stale = con.execute(f"""
        select count(*)
        from {MARTS}.fct_amplitude_events as e
        join {S}.amplitude_events_attempted as a on a.insert_id = e.insert_id
        anti join {S}.amplitude_events_sent as s on s.insert_id = e.insert_id
        where a.first_attempted_at < (now() at time zone 'UTC') - interval {INSERT_ID_DEDUP_DAYS} day
    """).fetchone()[0]
    return PushPlan(events=events, property_sets=sets, property_unsets=unsets, stale_resends=stale)
