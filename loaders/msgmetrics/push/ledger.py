"""The push ledger: what Amplitude accepted, kept in the warehouse beside the marts.

Rows are written only after Amplitude answered 200 for the request that carried
them, one transaction per accepted request. The next push sends the difference
between the marts and the ledger, so a killed push resumes and a repeated push
sends nothing. Every row names the Amplitude environment (project) it went to, so a
push to staging never marks anything sent to production. Analysts can query every
table (schema `msgmetrics_ledger`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from ..settings import LEDGER_SCHEMA

S = LEDGER_SCHEMA

DDL = f"""
create schema if not exists {S};

-- One row per event Amplitude accepted (insert_id is deterministic per Customer.io event).
create table if not exists {S}.amplitude_events_sent (
    environment varchar not null,
    insert_id varchar not null,
    event_id varchar,
    user_id varchar,
    event_type varchar,
    event_time_ms bigint,
    accepted_at timestamp,
    run_id varchar,
    primary key (environment, insert_id)
);

-- When each event was first handed to Amplitude (before its answer was known). Amplitude
-- deduplicates an insert_id for 7 days only: a resend after that may be stored twice.
create table if not exists {S}.amplitude_events_attempted (
    environment varchar not null,
    insert_id varchar not null,
    first_attempted_at timestamp,
    run_id varchar,
    primary key (environment, insert_id)
);

-- Every user-property operation Amplitude accepted, in order ($set = entered a cohort,
-- $unset = left it). The current state is the last operation per (user, property).
create table if not exists {S}.amplitude_user_property_log (
    environment varchar not null,
    user_id varchar,
    property_name varchar,
    operation varchar,
    accepted_at timestamp,
    run_id varchar
);

create or replace view {S}.amplitude_user_properties_current as
select environment, user_id, property_name, accepted_at as set_at, run_id
from (
    select *, row_number() over (
        partition by environment, user_id, property_name order by accepted_at desc, operation) as rn
    from {S}.amplitude_user_property_log
) where rn = 1 and operation = 'set';

-- Amplitude Behavioral Cohorts msgmetrics created (one per msgmetrics cohort), and every
-- membership change Amplitude accepted; the members msgmetrics added are the current state.
create table if not exists {S}.amplitude_cohorts (
    environment varchar not null,
    cohort_name varchar not null,
    amplitude_cohort_id varchar,
    amplitude_name varchar,
    created_at timestamp,
    run_id varchar,
    primary key (environment, cohort_name)
);

create table if not exists {S}.amplitude_cohort_membership_log (
    environment varchar not null,
    cohort_name varchar,
    user_id varchar,
    operation varchar,
    accepted_at timestamp,
    run_id varchar
);

create or replace view {S}.amplitude_cohort_members_current as
select environment, cohort_name, user_id, accepted_at as added_at, run_id
from (
    select *, row_number() over (
        partition by environment, cohort_name, user_id order by accepted_at desc, operation) as rn
    from {S}.amplitude_cohort_membership_log
) where rn = 1 and operation = 'add';

-- Records Amplitude refused for good (400 with their index, oversized, quota), with the reason.
create table if not exists {S}.amplitude_dead_letters (
    environment varchar not null,
    kind varchar,
    record_key varchar,
    payload json,
    reason varchar,
    rejected_at timestamp,
    run_id varchar
);

-- One row per push run.
create table if not exists {S}.push_runs (
    run_id varchar primary key,
    environment varchar,
    started_at timestamp,
    finished_at timestamp,
    dry_run boolean,
    target varchar,
    events_planned bigint,
    events_accepted bigint,
    events_rejected bigint,
    property_sets_planned bigint,
    property_unsets_planned bigint,
    identifications_accepted bigint,
    retries bigint,
    status varchar,
    error varchar
);
"""


@dataclass(frozen=True)
class Stamp:
    """Which environment a ledger write is for, and which push run made it."""

    environment: str
    run_id: str


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def _insert_many(con, table: str, columns: list[str], rows: list[tuple], ignore_existing: bool = False) -> None:
    """Insert rows in one statement through Arrow (DuckDB's executemany runs one statement per
    row: minutes for a few hundred thousand ledger rows)."""
    if not rows:
        return
    batch = pa.table({name: list(values) for name, values in zip(columns, zip(*rows))})  # column-wise: 2x from_pylist
    con.register("ledger_rows", batch)
    try:
        verb = "insert or ignore into" if ignore_existing else "insert into"
        con.execute(f"{verb} {S}.{table} ({', '.join(columns)}) select {', '.join(columns)} from ledger_rows")
    finally:
        con.unregister("ledger_rows")


def record_events(con, events: list[dict], stamp: Stamp) -> None:
    now = utcnow()
    _insert_many(
        con, "amplitude_events_sent",
        ["environment", "insert_id", "event_id", "user_id", "event_type", "event_time_ms", "accepted_at", "run_id"],
        [
            (stamp.environment, e["insert_id"], e["event_properties"].get("cio_event_id"), e["user_id"],
             e["event_type"], e["time"], now, stamp.run_id)
            for e in events
        ],
        ignore_existing=True,
    )


def record_attempts(con, events: list[dict], stamp: Stamp) -> None:
    now = utcnow()
    _insert_many(
        con, "amplitude_events_attempted", ["environment", "insert_id", "first_attempted_at", "run_id"],
        [(stamp.environment, e["insert_id"], now, stamp.run_id) for e in events],
        ignore_existing=True,
    )


def record_identifications(con, identifications: list[dict], stamp: Stamp) -> None:
    now = utcnow()
    rows = []
    for ident in identifications:
        ops = ident["user_properties"]
        for operation, key in (("set", "$set"), ("unset", "$unset")):
            rows += [(stamp.environment, ident["user_id"], name, operation, now, stamp.run_id)
                     for name in ops.get(key, {})]
    _insert_many(con, "amplitude_user_property_log",
                 ["environment", "user_id", "property_name", "operation", "accepted_at", "run_id"], rows)


def record_cohort(con, cohort_name: str, amplitude_cohort_id: str, amplitude_name: str, stamp: Stamp) -> None:
    con.execute(
        f"insert or replace into {S}.amplitude_cohorts values (?, ?, ?, ?, ?, ?)",
        [stamp.environment, cohort_name, amplitude_cohort_id, amplitude_name, utcnow(), stamp.run_id],
    )


def record_membership(con, cohort_name: str, user_ids, operation: str, stamp: Stamp) -> None:
    now = utcnow()
    _insert_many(
        con, "amplitude_cohort_membership_log",
        ["environment", "cohort_name", "user_id", "operation", "accepted_at", "run_id"],
        [(stamp.environment, cohort_name, user_id, operation, now, stamp.run_id) for user_id in user_ids],
    )


def record_dead_letters(con, kind: str, records: list[dict], key: str, reason: str, stamp: Stamp) -> None:
    now = utcnow()
    _insert_many(
        con, "amplitude_dead_letters",
        ["environment", "kind", "record_key", "payload", "reason", "rejected_at", "run_id"],
        [(stamp.environment, kind, r.get(key), json.dumps(r, default=str), reason, now, stamp.run_id)
         for r in records],
    )
