"""A default build runs only the nodes downstream of what changed, and gives what a full refresh gives."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import duckdb

from conftest import run_cli
from msgmetrics.build import parse
from msgmetrics.build_plan import BuildState, clock_models, plan, source_signatures
from msgmetrics.settings import Warehouse
from test_data_tests import EVENTS_UNIQUE
from test_incremental import MARTS, _snapshot, generated_in_two_parts

LAG = ("--max-data-lag-hours", "1000")  # as of the data's end with part of it loaded


def _ran(target) -> set[str]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith(("model.", "seed."))}


def _test_sql(target, name: str) -> str:
    """The SQL dbt ran for a data test in the last build."""
    return next((target / "run").rglob(f"{name}.sql")).read_text()


def test_a_build_runs_what_changed_since_the_last_one_and_equals_a_full_refresh(tmp_path):
    data, manifest, first, later = generated_in_two_parts(tmp_path, seed=7)
    warehouse = tmp_path / "w.duckdb"
    as_of = manifest["end"]
    earlier_as_of = (datetime.fromisoformat(as_of.replace("Z", "+00:00")) - timedelta(hours=6)).isoformat()
    target = tmp_path / "target"
    env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(tmp_path / "logs")}

    run_cli(warehouse, "load", "webhooks", str(first))
    run_cli(warehouse, "load", "orders", str(data / "orders"))
    run_cli(warehouse, "build", "--as-of", as_of, *LAG, env=env)  # nothing recorded yet: everything
    everything = _ran(target)
    assert {"stg_customerio__message_events", "stg_customerio_api__messages", "dim_cohorts",
            "amplitude_event_names"} <= everything
    assert (tmp_path / "w.duckdb.last-build.json").exists()
    seconds = json.loads((tmp_path / "w.duckdb.node-seconds.json").read_text())
    assert "model.msgmetrics.stg_customerio__message_events" in seconds["full"] and seconds["incremental"] == {}

    # same data, code, vars and as_of: dbt does not run at all
    (target / "run_results.json").unlink()
    same = run_cli(warehouse, "build", "--as-of", as_of, *LAG, env=env)
    assert "build: nothing to build (no new data, same code, vars and as_of as the last build" in same.stdout
    assert not (target / "run_results.json").exists()

    # new (and late) webhook events: the webhook source's descendants, not the other sources' or the seeds
    assert "group_loaded_at" not in _test_sql(target, EVENTS_UNIQUE)  # the first build tested whole tables
    first_build = json.loads((tmp_path / "w.duckdb.last-build.json").read_text())
    run_cli(warehouse, "load", "webhooks", str(later))
    run_cli(warehouse, "build", "--as-of", as_of, *LAG, env=env)
    # ... and tested the incremental models' rows loaded since the last build started
    assert f"where group_loaded_at > cast('{first_build['started_at']}' as timestamp)" in _test_sql(target, EVENTS_UNIQUE)
    changed = _ran(target)
    # the critical-path schedule keeps an incremental build's seconds apart from the first build's
    seconds = json.loads((tmp_path / "w.duckdb.node-seconds.json").read_text())
    assert {f"model.msgmetrics.{m}" for m in changed} == set(seconds["incremental"]) & {
        f"model.msgmetrics.{m}" for m in everything}
    assert {"stg_customerio__message_events", "fct_message_events", "fct_message_deliveries",
            "int_purchases__conversions_matched", "int_cohorts__signals", "cohort_membership",
            "fct_amplitude_events"} <= changed
    skipped = everything - changed
    assert {"stg_customerio_api__messages", "stg_customerio_dw__deliveries", "stg_shop__orders",
            "dim_cohorts", "dim_audiences", "amplitude_event_names"} <= skipped
    planned = _snapshot(warehouse)

    # another as_of, no new data: the windowed models and what reads them, not the staging;
    # unit tests asked for: every one of them runs too, not only those of the models built
    moved_run = run_cli(warehouse, "build", "--as-of", earlier_as_of, *LAG, "--unit-tests", env=env)
    moved = _ran(target)
    unit_tests = json.loads((target / "manifest.json").read_text())["unit_tests"]
    assert moved_run.stdout.count("START unit_test") == len(unit_tests) > 20
    assert {"int_cohorts__signals", "int_cohorts__members", "cohort_membership", "fct_amplitude_events"} <= moved
    assert not moved & {"stg_customerio__message_events", "fct_message_events", "fct_message_deliveries",
                        "stg_shop__orders", "dim_cohorts"}
    # as_of moved again (an hourly schedule), given in MSGMETRICS_AS_OF as --as-of's default: the
    # same nodes, no unit tests (as_of is no var of theirs) and no full parse (as_of reaches dbt in
    # that environment variable, read at execution only)
    log = tmp_path / "logs" / "dbt.log"
    log_before = log.read_text(errors="replace")
    hour_later = datetime.fromisoformat(earlier_as_of) + timedelta(hours=1)
    hourly = run_cli(warehouse, "build", *LAG, env={**env, "MSGMETRICS_AS_OF": hour_later.isoformat()})
    assert _ran(target) == moved and "START unit_test" not in hourly.stdout
    hourly_log = log.read_text(errors="replace")[len(log_before):]
    assert "Running with dbt" in hourly_log and "Unable to do partial parsing" not in hourly_log
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select distinct as_of from marts.cohort_membership").fetchall() == [
            (hour_later.replace(tzinfo=None),)]

    # --all, and a full refresh as of the same time as `planned`: every node
    run_cli(warehouse, "build", "--as-of", earlier_as_of, *LAG, "--all", env=env)
    assert _ran(target) == everything
    run_cli(warehouse, "build", "--as-of", as_of, *LAG, "--full-refresh", env=env)
    assert _ran(target) == everything
    assert "group_loaded_at" not in _test_sql(target, EVENTS_UNIQUE)
    full = _snapshot(warehouse)
    for table in MARTS:
        assert planned[table] == full[table], table
        assert table == "marts.rpt_identity_conflicts" or full[table], table


def test_every_unit_test_of_a_model_that_reads_as_of_sets_it(tmp_path, monkeypatch):
    """`msgmetrics build` runs the unit tests again when the code or the vars change, not when
    as_of does (it is no dbt var of theirs, but MSGMETRICS_AS_OF): right only while no unit test
    of a model that reads as_of takes it from the build."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    manifest = parse(Warehouse(tmp_path / "w.duckdb"), {})
    reads_as_of = set(clock_models(manifest, ("macro.msgmetrics.as_of_timestamp",)))
    assert {"int_cohorts__members", "int_cohorts__person_states", "int_cohorts__data_freshness"} <= reads_as_of
    tested = [t for t in manifest.unit_tests.values() if t.model in reads_as_of]
    assert len(tested) >= 10
    assert [t.name for t in tested if "as_of" not in ((t.overrides.vars if t.overrides else None) or {})] == []


def test_a_code_or_vars_change_builds_every_node(tmp_path, built_warehouse):
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, warehouse)
    shutil.copy(built_warehouse.with_name(built_warehouse.name + ".last-build.json"),
                tmp_path / "w.duckdb.last-build.json")
    state = json.loads((tmp_path / "w.duckdb.last-build.json").read_text())
    target = tmp_path / "target"
    env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(tmp_path / "logs")}
    run_cli(warehouse, "build", "--as-of", state["as_of"], "--max-data-lag-hours", "40", "--no-unit-tests", env=env)
    assert {"stg_customerio__message_events", "stg_shop__orders", "dim_cohorts"} <= _ran(target)


def test_a_source_signature_changes_with_new_rows_and_with_new_dlt_loads():
    con = duckdb.connect()
    con.execute("create schema raw; create table raw.events (id int); create table raw._dlt_loads "
                "(load_id varchar, status int)")
    tables = {"source.p.raw.events": ("raw", "events"), "source.p.raw.missing": ("raw", "missing")}
    empty = source_signatures(con, tables)
    assert empty == {"source.p.raw.events": [0, 0, None], "source.p.raw.missing": [None, 0, None]}
    con.execute("insert into raw.events values (1)")  # written by hand, not by dlt
    inserted = source_signatures(con, tables)
    assert inserted["source.p.raw.events"] == [1, 0, None]
    con.execute("insert into raw._dlt_loads values ('1796000000.1', 0)")  # a load that replaced rows
    reloaded = source_signatures(con, tables)
    assert reloaded["source.p.raw.events"] == [1, 1, "1796000000.1"]
    assert len({json.dumps(s["source.p.raw.events"]) for s in (empty, inserted, reloaded)}) == 3


def test_the_plan_without_a_recorded_build_or_with_other_code_is_everything_and_tests_whole_tables():
    current = BuildState("code-a", "2026-11-01T00:00:00Z", {"source.p.s.t": [1, 1, "1"]})
    assert plan(None, current, manifest=None).everything
    assert plan(BuildState("code-b", current.as_of, current.sources), current, manifest=None).everything
    assert plan(current, current, manifest=None).select == []
    # data tests look at the rows loaded after the last build started, unless every node builds
    started = "2026-12-01 06:00:00.000001"
    assert plan(BuildState("code-a", current.as_of, current.sources, started), current, manifest=None).checked_after == started
    assert plan(BuildState("code-b", current.as_of, current.sources, started), current, manifest=None).checked_after is None
