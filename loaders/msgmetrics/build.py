"""Run dbt (in-process) on the msgmetrics project against the warehouse."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from . import build_plan, dbt_schedule
from .settings import PROFILES_DIR, PROJECT_DIR, Warehouse
from .writer_lock import writer_lock


log = logging.getLogger(__name__)

# The time after which the incremental models' data tests look (macros/tests/checked_since.sql).
CHECKED_AFTER_ENV = "MSGMETRICS_CHECKED_AFTER"
# The build's as_of (macros/as_of.sql): an environment variable read at execution, not a dbt var,
# so that another as_of neither re-parses the project nor re-runs the unit tests.
AS_OF_ENV = "MSGMETRICS_AS_OF"

# What a unit test's result depends on: the project's SQL, YAML and seeds (tests/dbt included).
PROJECT_CODE = ("dbt_project.yml", "models", "macros", "seeds", "tests/dbt")


class BuildFailed(RuntimeError):
    pass


@dataclass
class BuildResult:
    invocation_id: str | None
    as_of: str | None
    counts: dict[str, int] = field(default_factory=dict)  # status -> number of nodes
    unit_tests_ran: bool = True
    skipped_reason: str | None = None  # set when nothing needed building


def normalize_as_of(value: str | None) -> str | None:
    """ISO-8601 (offset or Z optional, UTC assumed) -> 'YYYY-MM-DDTHH:MM:SSZ'; clear error otherwise."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BuildFailed(
            f"--as-of {value!r} is not an ISO-8601 time; use e.g. 2026-11-01 or 2026-11-01T06:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt_args(command: str, warehouse: Warehouse, extra: list[str] | None = None, vars: dict | None = None) -> list[str]:
    args = [command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR)]
    if vars:
        args += ["--vars", json.dumps(vars)]
    return args + (extra or [])


def run_dbt(warehouse: Warehouse, args: list[str], manifest=None):
    """Invoke dbt in this process with the warehouse path in its environment (and a parsed manifest)."""
    from dbt.cli.main import dbtRunner  # imported late: dbt is slow to import

    os.environ["MSGMETRICS_WAREHOUSE"] = str(warehouse.path)
    warehouse.ensure_parent()
    try:
        return dbtRunner(manifest=manifest).invoke(args)
    finally:
        _close_dbt_warehouse()


def _close_dbt_warehouse() -> None:
    """dbt-duckdb keeps its DuckDB instance open when an invocation returns, for the next one in
    the same process: the warehouse file stays locked against other processes after the writer
    lock is released, and the memory its block allocator took stays taken. Close it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # no invocation opened the warehouse (a parse)
        return
    DuckDBConnectionManager.close_all_connections()
    environment.close()


# ---------------------------------------------------------------- unit tests once per code version
# dbt unit tests check SQL logic against fixed inputs: their result depends on the project's code,
# the dbt and adapter versions and the vars, not on the warehouse's data. So `build` runs them when
# that fingerprint differs from the one of the last build whose unit tests all passed (recorded
# beside the warehouse), and otherwise excludes them: a data build on unchanged code does not pay
# for ~30 unit tests again. `unit_tests=True` forces them.
def code_fingerprint(vars: dict | None = None, project_dir: Path = PROJECT_DIR) -> str:
    """Hash of the project files unit tests depend on, the dbt/adapter versions and the vars."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{package}=={version(package)}\n".encode())
    digest.update(json.dumps(vars or {}, sort_keys=True).encode() + b"\n")
    for top in PROJECT_CODE:
        root = project_dir / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            digest.update(f.relative_to(project_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def unit_tests_marker(warehouse: Warehouse) -> Path:
    return warehouse.path.with_name(warehouse.path.name + ".unit-tests-passed")


def unit_tests_passed_for(warehouse: Warehouse, fingerprint: str) -> bool:
    marker = unit_tests_marker(warehouse)
    try:
        return marker.read_text().strip() == fingerprint
    except OSError:
        return False


def build(
    warehouse: Warehouse,
    as_of: str | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    vars: dict | None = None,
    unit_tests: bool | None = None,
    everything: bool = False,
) -> BuildResult:
    """`dbt build` for `as_of` (default: now): what changed since the last build, or a selection.

    By default only the nodes downstream of what changed since the last successful build on this
    warehouse run (see build_plan); `everything`, `full_refresh` or another code fingerprint run
    every node, `select` runs that dbt selection.
    unit_tests: True runs dbt's unit tests, False skips them, None (default) runs them only when
    the code fingerprint changed since they last passed against this warehouse.
    """
    as_of = normalize_as_of(as_of)
    extra = ["--full-refresh"] if full_refresh else []
    if select:
        extra += ["--select", select]
    vars = vars or {}
    fingerprint = code_fingerprint(vars)  # no unit test reads as_of unset (test_build_plan checks)
    run_unit_tests = unit_tests if unit_tests is not None else not unit_tests_passed_for(warehouse, fingerprint)
    if not run_unit_tests:
        extra += ["--exclude-resource-type", "unit_test"]
        log.info("unit tests skipped: they passed on this code, dbt version and vars (build --unit-tests runs them)")
    with writer_lock(warehouse, "build"), _unset_before_and_after(CHECKED_AFTER_ENV, AS_OF_ENV):
        started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # no load runs from here on
        if as_of:
            os.environ[AS_OF_ENV] = as_of
        manifest = parse(warehouse, vars)
        current = build_plan.BuildState(fingerprint, as_of,
                                        source_signatures(warehouse, manifest), started_at)
        whole_graph = not select
        counts: dict[str, int] = {}
        if run_unit_tests:  # until they pass again
            unit_tests_marker(warehouse).unlink(missing_ok=True)
        previous = build_plan.read_state(warehouse)
        if whole_graph and not (everything or full_refresh):
            plan = build_plan.plan(previous, current, manifest)
            log.info("building %s: %s", "every node" if plan.everything else "what changed",
                     "; ".join(plan.reasons) or "nothing changed")
            if plan.select is not None and run_unit_tests:
                # `dbt build --select` runs only the unit tests of the models it selects: all of them first
                counts = _checked(run_dbt(warehouse, dbt_args("test", warehouse, ["--select", "test_type:unit"],
                                                              vars), manifest=manifest))
                extra += ["--exclude-resource-type", "unit_test"]
            if plan.select == []:
                if not run_unit_tests:
                    return BuildResult(invocation_id=None, as_of=as_of, unit_tests_ran=False,
                                       skipped_reason="no new data, same code, vars and as_of as the last build")
                unit_tests_marker(warehouse).write_text(fingerprint + "\n")
                return BuildResult(invocation_id=_invocation_id(), as_of=as_of, counts=counts)
            if plan.select:
                extra += ["--select", *plan.select]
            if plan.checked_after:
                os.environ[CHECKED_AFTER_ENV] = plan.checked_after
                log.info("incremental models' data tests: the rows loaded since the last build (%s UTC)",
                         plan.checked_after)
        # a first build or a full refresh computes every table whole; any other, what is new
        kind = dbt_schedule.FULL if full_refresh or previous is None else dbt_schedule.INCREMENTAL
        with dbt_schedule.critical_path_first(dbt_schedule.read_seconds(warehouse, kind),
                                               dbt_schedule.profile_threads(PROFILES_DIR)):
            result = run_dbt(warehouse, dbt_args("build", warehouse, extra, vars), manifest=manifest)
        dbt_schedule.record_seconds(warehouse, getattr(result.result, "results", None) or [], kind)
        for status, n in _checked(result).items():
            counts[status] = counts.get(status, 0) + n
        if whole_graph:
            drop_retired_relations(warehouse)
    if whole_graph:  # every node is now computed from `current`
        build_plan.write_state(warehouse, current)
        if run_unit_tests:  # every unit test ran and passed
            unit_tests_marker(warehouse).write_text(fingerprint + "\n")
    return BuildResult(invocation_id=_invocation_id(), as_of=as_of, counts=counts, unit_tests_ran=run_unit_tests)


@contextlib.contextmanager
def _unset_before_and_after(*env_vars: str) -> Iterator[None]:
    """`env_vars` absent from this process's environment on entry and again on exit."""
    for name in env_vars:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name in env_vars:
            os.environ.pop(name, None)


def _checked(result) -> dict[str, int]:
    """Nodes per status of a dbt invocation; BuildFailed naming the failures when it did not succeed."""
    counts: dict[str, int] = {}
    failures = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(node_result.status)
        counts[status] = counts.get(status, 0) + 1
        if status in ("error", "fail"):
            failures.append(f"{node_result.node.name}: {node_result.message}")
            if "data_fresh_for_as_of" in node_result.node.name:
                failures.append("  the newest event is older than var cohort_max_data_lag_hours before as_of, so the "
                                "cohorts (suppressions included) would be stale and were not refreshed: load the "
                                "latest webhooks, or pass --max-data-lag-hours for a backfill or a what-if as_of")
    if not result.success:
        detail = "\n  ".join(failures) if failures else str(result.exception)
        raise BuildFailed(
            "dbt build failed:\n  " + detail + "\nSee the dbt output above (logs/dbt.log in the project) "
            "for the failing models and tests."
        )
    return counts


def _invocation_id() -> str:
    from dbt_common.invocation import get_invocation_id  # the id dbt wrote into its logs and artifacts

    return get_invocation_id()


def parse(warehouse: Warehouse, vars: dict):
    """dbt's manifest for these vars (partial parsing makes a repeat cheap); build reuses it.
    No target/manifest.json here: the dbt run that follows writes it (writing it costs ~1.4 s at
    every build; the partial-parse state is written either way)."""
    result = run_dbt(warehouse, dbt_args("parse", warehouse, ["--no-write-json"], vars))
    if not result.success:
        raise BuildFailed(f"dbt could not parse the project: {result.exception}\n"
                          "See the dbt output above (logs/dbt.log in the project).")
    return result.result


# Tables and views of models this project no longer has. A warehouse built by an earlier version
# still holds them and nothing refreshes them: they would look current to an analyst and are not.
RETIRED_RELATIONS = (("intermediate", "int_cohorts__message_signals"),)


def drop_retired_relations(warehouse: Warehouse) -> list[str]:
    """Drop the RETIRED_RELATIONS the warehouse holds (after a successful build); their names."""
    import duckdb

    con = duckdb.connect(str(warehouse.path))
    try:
        kinds = {(schema, name): kind for schema, name, kind in con.execute(
            "select table_schema, table_name, table_type from information_schema.tables").fetchall()}
        dropped = []
        for schema, name in RETIRED_RELATIONS:
            kind = kinds.get((schema, name))
            if kind is None:
                continue
            con.execute(f'drop {"view" if kind == "VIEW" else "table"} "{schema}"."{name}"')
            log.info("dropped %s.%s: a model of an earlier msgmetrics version, no longer built", schema, name)
            dropped.append(f"{schema}.{name}")
        return dropped
    finally:
        con.close()


def source_signatures(warehouse: Warehouse, manifest) -> dict[str, list]:
    if not warehouse.path.exists():
        return {}
    import duckdb

    con = duckdb.connect(str(warehouse.path))
    try:
        return build_plan.source_signatures(con, build_plan.source_tables(manifest))
    finally:
        con.close()
