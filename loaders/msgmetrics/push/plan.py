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


def check_marts_exist(con) -> None:
    missing = [t for t in ("fct_amplitude_events", "fct_amplitude_user_properties") if not table_exists(con, MARTS, t)]
    if missing:
        raise RuntimeError(
            f"the warehouse has no {', '.join(MARTS + '.' + t for t in missing)}: "
            "run `msgmetrics build` before `msgmetrics push`"
        )


def ledger_for(table: str) -> str:
    """A ledger table narrowed to the push's environment (bind $env when executing)."""
    return f"(select * from {S}.{table} where environment = $env)"


def compute_plan(con, environment: str) -> PushPlan:
    env = {"env": environment}
    sent, dead = ledger_for("amplitude_events_sent"), ledger_for("amplitude_dead_letters")
    flags, attempted = ledger_for("amplitude_user_properties_current"), ledger_for("amplitude_events_attempted")
    # Events Amplitude refused for good (a 400 naming them) are not resent every run: fix the
    # data, then delete their rows from amplitude_dead_letters to send them again.
    cursor = con.execute(f"""
        select e.*
        from {MARTS}.fct_amplitude_events as e
        anti join {sent} as s on s.insert_id = e.insert_id
        anti join {dead} as d on d.kind = 'events' and d.record_key = e.insert_id
        order by e.user_id, e.time_ms, e.insert_id
    """, env)
    names = [d[0] for d in cursor.description]
    events = [dict(zip(names, row)) for row in cursor.fetchall()]
    sets = con.execute(f"""
        select d.user_id, d.property_name
        from {MARTS}.fct_amplitude_user_properties as d
        anti join {flags} as c on c.user_id = d.user_id and c.property_name = d.property_name
        order by 1, 2
    """, env).fetchall()
    # Only properties msgmetrics itself set can be unset: the ledger is the scope.
    unsets = con.execute(f"""
        select c.user_id, c.property_name
        from {flags} as c
        anti join {MARTS}.fct_amplitude_user_properties as d
            on d.user_id = c.user_id and d.property_name = c.property_name
        order by 1, 2
    """, env).fetchall()
    stale = con.execute(f"""
        select count(*)
        from {MARTS}.fct_amplitude_events as e
        join {attempted} as a on a.insert_id = e.insert_id
        anti join {sent} as s on s.insert_id = e.insert_id
        where a.first_attempted_at < (now() at time zone 'UTC') - interval {INSERT_ID_DEDUP_DAYS} day
    """, env).fetchone()[0]
    return PushPlan(events=events, property_sets=sets, property_unsets=unsets, stale_resends=stale)
