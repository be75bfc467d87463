"""The `runs` table: one row per msgmetrics command that changed the warehouse.

What was loaded (dlt load ids, rows), built (dbt invocation id, result counts, as_of),
pushed (per kind: planned, accepted, dead-lettered, retries) and the error if any.
Analysts query `msgmetrics_ledger.runs`; `msgmetrics status` prints the latest.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import duckdb

from .settings import LEDGER_SCHEMA, Warehouse
from .warehouse_sql import table_exists
from .writer_lock import writer_lock

DDL = f"""
create schema if not exists {LEDGER_SCHEMA};
create table if not exists {LEDGER_SCHEMA}.runs (
    run_id varchar primary key,
    command varchar,
    started_at timestamp,
    finished_at timestamp,
    status varchar,
    load_ids json,
    loaded json,
    dbt_invocation_id varchar,
    dbt_results json,
    as_of varchar,
    push_run_id varchar,
    pushed json,
    error varchar
);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RunRecord:
    command: str
    run_id: str = field(default_factory=lambda: _now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8])
    started_at: datetime = field(default_factory=_now)
    load_ids: list[str] = field(default_factory=list)
    loaded: dict[str, dict] = field(default_factory=dict)  # table -> {rows_added, quarantined, ...}
    dbt_invocation_id: str | None = None
    dbt_results: dict[str, int] = field(default_factory=dict)
    as_of: str | None = None
    push_run_id: str | None = None
    pushed: dict = field(default_factory=dict)
    status: str = "success"
    error: str | None = None


def write(warehouse: Warehouse, run: RunRecord) -> None:
    with writer_lock(warehouse, "record run"):
        con = duckdb.connect(str(warehouse.path))
        try:
            con.execute(DDL)
            con.execute(
                f"insert or replace into {LEDGER_SCHEMA}.runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run.run_id, run.command, run.started_at, _now(), run.status,
                    json.dumps(run.load_ids), json.dumps(run.loaded), run.dbt_invocation_id,
                    json.dumps(run.dbt_results), run.as_of, run.push_run_id, json.dumps(run.pushed), run.error,
                ],
            )
        finally:
            con.close()


@contextlib.contextmanager
def recorded(warehouse: Warehouse, command: str) -> Iterator[RunRecord]:
    """Record the command as a run, whatever happens; exceptions are recorded and re-raised."""
    run = RunRecord(command=command)
    try:
        yield run
    except SystemExit as exc:
        if exc.code not in (0, None):
            run.status = "partial" if exc.code == 2 else "failed"
        raise
    except BaseException as exc:
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if warehouse.path.exists() or run.status != "failed":
            write(warehouse, run)


def latest(warehouse: Warehouse, limit: int = 10) -> list[dict]:
    if not warehouse.path.exists():
        return []
    con = duckdb.connect(str(warehouse.path))
    try:
        if not table_exists(con, LEDGER_SCHEMA, "runs"):
            return []
        cursor = con.execute(f"select * from {LEDGER_SCHEMA}.runs order by started_at desc limit ?", [limit])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()
