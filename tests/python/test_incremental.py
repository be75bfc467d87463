"""An incremental build after new (and late) events gives exactly the marts a full refresh gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta

import yaml
from conftest import REPO, query, run_cli
from msgmetrics.build import PROJECT_CODE, code_fingerprint
from msgmetrics.generate import generate

MARTS = {  # model -> column left out of the comparison (a load or build time)
    "marts.fct_message_events": "loaded_at",
    "marts.fct_message_deliveries": "last_loaded_at",
    "marts.fct_message_metrics_daily": "last_loaded_at",
    "marts.cohort_membership": "computed_at",
    "marts.fct_purchases": None,
    "marts.xref_user_identity": None,
    "marts.rpt_identity_conflicts": None,
    "marts.rpt_identity_coverage": None,
    "marts.fct_amplitude_events": None,
    # the incremental intermediates the marts are summed or read from
    "intermediate.int_messaging__delivery_days": "last_loaded_at",
    "intermediate.int_identity__people_observed": "last_loaded_at",
    "intermediate.int_cohorts__members": "state_built_at",
    "intermediate.int_activation__selected_events": "group_loaded_at",
}


def _snapshot(warehouse, tables: dict[str, str | None] = MARTS) -> dict[str, list[tuple]]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for table, watermark in tables.items():
            cols = [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] != watermark]
            out[table] = con.execute(f"select {', '.join(cols)} from {table} order by all").fetchall()
        return out
    finally:
        con.close()


def _unit_tests_run(target) -> int:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(r["unique_id"].startswith("unit_test.") for r in results)


def generated_in_two_parts(tmp_path, seed: int):
    """300 people over 30 days; the first 70 % of the webhook files in `first`, the rest in `later`."""
    data = tmp_path / "data"
    manifest = generate(data, people=300, days=30, seed=seed)
    files = sorted((data / "webhooks").glob("*.jsonl"))
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    for n, f in enumerate(files):
        shutil.copy(f, (first if n < len(files) * 0.7 else later) / f.name)
    return data, manifest, first, later


def test_incremental_build_equals_full_refresh_with_late_events(tmp_path):
    data, manifest, first, later = generated_in_two_parts(tmp_path, seed=5)
    warehouse = tmp_path / "w.duckdb"
    as_of = manifest["end"]

    target = tmp_path / "target"
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(tmp_path / "logs")}
    run_cli(warehouse, "load", "webhooks", str(first))
    run_cli(warehouse, "load", "orders", str(data / "orders"))
    # as of the end of the data with only its first 70% loaded: the cohorts' freshness test would fail
    run_cli(warehouse, "build", "--as-of", as_of, "--max-data-lag-hours", "1000", env=dbt_env)
    assert _unit_tests_run(target) > 20  # a new warehouse: the unit tests run
    run_cli(warehouse, "load", "webhooks", str(later))
    run_cli(warehouse, "build", "--as-of", as_of, env=dbt_env)  # incremental
    assert _unit_tests_run(target) > 20  # other vars than the build before: they run again
    incremental = _snapshot(warehouse)
    skipped = run_cli(warehouse, "build", "--as-of", as_of, "--full-refresh", env=dbt_env)
    # same code, dbt and vars as the build before, whose unit tests passed: not run again
    assert _unit_tests_run(target) == 0 and "unit tests skipped" in skipped.stderr
    full = _snapshot(warehouse)
    # nothing changed since: only unit tests asked for explicitly run, and all of them
    run_cli(warehouse, "build", "--as-of", as_of, "--unit-tests", env=dbt_env)
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert len(results) == _unit_tests_run(target) > 20
    assert {r["status"] for r in results} == {"pass"}

    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    first_day_of_later = min(f.name for f in later.iterdir())[len("events-"):-len(".jsonl")]
    (late,) = con.execute(f"""
        select count(*) from staging.stg_customerio__message_events
        where source_file like '%/later/%' and cast(occurred_at as date) < date '{first_day_of_later}'""").fetchone()
    con.close()
    assert late > 0  # the second load carried late events for days already built
    for table in MARTS:
        assert len(incremental[table]) == len(full[table]), table
        assert table == "marts.rpt_identity_conflicts" or len(full[table]) > 0, table
        assert incremental[table] == full[table], table


COHORT_TABLES = {"intermediate.int_cohorts__members": "state_built_at", "marts.cohort_membership": "computed_at"}


def _people_recomputed_by_the_last_build(warehouse) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("""
            select count(*) filter (where state_built_at = (select max(state_built_at)
                                                           from intermediate.int_cohorts__person_states)),
                   count(*)
            from intermediate.int_cohorts__person_states""").fetchone()
    finally:
        con.close()


def test_cohorts_follow_a_moving_as_of_per_person(tmp_path):
    """No new data, only as_of moves (forward 3 days, back 2, then 1 day past the data's end,
    where no signal enters the view and only window edges change anything): each incremental
    build recomputes only the people with a window edge or a signal between the two as_of,
    and gives exactly the cohorts a full refresh gives."""
    data = tmp_path / "data"
    manifest = generate(data, people=300, days=30, seed=11)
    warehouse = tmp_path / "w.duckdb"
    env = {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    lag = ("--max-data-lag-hours", "1000")
    run_cli(warehouse, "load", "webhooks", str(data / "webhooks"))
    run_cli(warehouse, "load", "orders", str(data / "orders"))
    end = datetime.fromisoformat(manifest["end"].replace("Z", "+00:00"))
    as_ofs = [(end - timedelta(days=d)).isoformat() for d in (6, 3, 5, -1)]

    run_cli(warehouse, "build", "--as-of", as_ofs[0], *lag, env=env)
    previous = _snapshot(warehouse, COHORT_TABLES)
    for as_of in as_ofs[1:]:
        run_cli(warehouse, "build", "--as-of", as_of, *lag, "--no-unit-tests", env=env)  # incremental
        incremental = _snapshot(warehouse, COHORT_TABLES)
        recomputed, people = _people_recomputed_by_the_last_build(warehouse)
        run_cli(warehouse, "build", "--as-of", as_of, *lag, "--full-refresh", "--no-unit-tests", env=env)
        full = _snapshot(warehouse, COHORT_TABLES)
        members = "intermediate.int_cohorts__members"
        assert incremental[members] != previous[members], as_of  # people entered or left cohorts
        assert len(full[members]) > 100
        for table in COHORT_TABLES:
            assert incremental[table] == full[table], (as_of, table)
        assert 0 < recomputed < people, (as_of, recomputed, people)  # per person, not everyone
        previous = full


def _build_with_vars(warehouse, env: dict, as_of: str, dbt_vars: dict, full_refresh: bool = False) -> None:
    """`msgmetrics build` with other dbt vars (the CLI takes none but the lag), in a subprocess."""
    code = ("import json, sys; from msgmetrics.build import build; from msgmetrics.settings import Warehouse; "
            "build(Warehouse.resolve(sys.argv[1]), as_of=sys.argv[2], vars=json.loads(sys.argv[3]), "
            "full_refresh=sys.argv[4] == '1', unit_tests=False)")
    subprocess.run([sys.executable, "-c", code, str(warehouse), as_of, json.dumps(dbt_vars), "1" if full_refresh else "0"],
                   cwd=REPO, env={**os.environ, **env}, check=True, capture_output=True, timeout=600)


def _loaded_and_built(tmp_path, seed: int):
    """300 people over 30 days loaded and built once as of their end (dbt's target and logs in
    tmp_path): the warehouse, that env, as_of and the lag var every later build needs."""
    data = tmp_path / "data"
    manifest = generate(data, people=300, days=30, seed=seed)
    warehouse = tmp_path / "w.duckdb"
    env = {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    run_cli(warehouse, "load", "webhooks", str(data / "webhooks"))
    run_cli(warehouse, "load", "orders", str(data / "orders"))
    as_of = manifest["end"]
    run_cli(warehouse, "build", "--as-of", as_of, "--max-data-lag-hours", "1000", "--no-unit-tests", env=env)
    return warehouse, env, as_of, {"cohort_max_data_lag_hours": 1000}


def test_another_cohort_registry_recomputes_everyone(tmp_path):
    """Same data and as_of, one cohort's window changed (another code fingerprint: every node
    runs, incrementally): every person's state is rewritten and the cohorts equal a full refresh
    with the new registry."""
    warehouse, env, as_of, lag = _loaded_and_built(tmp_path, seed=13)
    before = _snapshot(warehouse, COHORT_TABLES)

    cohorts = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cohorts"]
    (engagers,) = [c for c in cohorts if c["name"] == "high_intent_engagers"]
    engagers["window_days"] = 2
    _build_with_vars(warehouse, env, as_of, {**lag, "cohorts": cohorts})
    incremental = _snapshot(warehouse, COHORT_TABLES)
    recomputed, people = _people_recomputed_by_the_last_build(warehouse)
    _build_with_vars(warehouse, env, as_of, {**lag, "cohorts": cohorts}, full_refresh=True)
    full = _snapshot(warehouse, COHORT_TABLES)

    assert recomputed == people > 100
    members = "intermediate.int_cohorts__members"
    assert incremental[members] != before[members]
    for table in COHORT_TABLES:
        assert incremental[table] == full[table], table


ACTIVATION_TABLES = {"intermediate.int_activation__selected_events": "group_loaded_at",
                     "marts.fct_amplitude_events": None}


def _events_to_send_per_metric(warehouse) -> dict[str, int]:
    return dict(query(warehouse, "select metric, count(*) from marts.fct_amplitude_events group by 1"))


def test_another_amplitude_metric_selection_equals_a_full_refresh(tmp_path):
    """Same data and as_of, var amplitude_event_metrics changed (opened put in, unsubscribed
    taken out): the incremental build reads the opens it never kept and drops the unsubscribes,
    and the events to send equal a full refresh with the new selection."""
    warehouse, env, as_of, lag = _loaded_and_built(tmp_path, seed=17)
    before = _events_to_send_per_metric(warehouse)

    selection = {**lag, "amplitude_event_metrics": ["clicked", "opened"]}
    _build_with_vars(warehouse, env, as_of, selection)
    incremental = _snapshot(warehouse, ACTIVATION_TABLES)
    _build_with_vars(warehouse, env, as_of, selection, full_refresh=True)
    full = _snapshot(warehouse, ACTIVATION_TABLES)

    after = _events_to_send_per_metric(warehouse)
    assert set(before) == {"clicked", "unsubscribed"} and set(after) == {"clicked", "opened"}
    assert after["clicked"] == before["clicked"] and after["opened"] > 100
    for table in ACTIVATION_TABLES:
        assert incremental[table] == full[table], table


def test_a_build_drops_the_tables_of_retired_models_and_nothing_else(tmp_path):
    """A warehouse built by an earlier version holds the table of a model this one no longer has
    (int_cohorts__message_signals) and, beside it, a table of the user's own: the next build
    drops the first (nothing would refresh it) and keeps the second."""
    import duckdb

    warehouse, env, as_of, lag = _loaded_and_built(tmp_path, seed=19)
    con = duckdb.connect(str(warehouse))
    con.execute("create table intermediate.int_cohorts__message_signals as select 1 as stale")
    con.execute("create table intermediate.my_own_analysis as select 1 as kept")
    con.close()
    built = run_cli(warehouse, "build", "--as-of", as_of, "--max-data-lag-hours", "1000", "--all",
                    "--no-unit-tests", env=env)
    tables = {name for (name,) in query(warehouse, "select table_name from information_schema.tables "
                                                   "where table_schema = 'intermediate'")}
    assert "int_cohorts__message_signals" not in tables
    assert {"my_own_analysis", "int_cohorts__members", "int_cohorts__person_states"} <= tables
    assert "no longer built" in built.stdout + built.stderr


def test_code_fingerprint_follows_the_project_code_and_the_vars(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for top in PROJECT_CODE:
        (shutil.copy if (REPO / top).is_file() else shutil.copytree)(REPO / top, project / top)
    before = code_fingerprint({"as_of": "2026-11-01T00:00:00Z"}, project_dir=project)
    assert before == code_fingerprint({"as_of": "2026-11-01T00:00:00Z"}, project_dir=project)
    assert before != code_fingerprint({"as_of": "2026-11-02T00:00:00Z"}, project_dir=project)
    model = project / "models" / "marts" / "messaging" / "fct_message_metrics_daily.sql"
    model.write_text(model.read_text() + "\n-- a comment changes the code\n")
    changed = code_fingerprint({"as_of": "2026-11-01T00:00:00Z"}, project_dir=project)
    assert changed != before
    (project / "README.md").write_text("not what unit tests run")
    assert code_fingerprint({"as_of": "2026-11-01T00:00:00Z"}, project_dir=project) == changed
