"""Cohorts as configuration, purchases, audiences, history and freshness, on the built demo data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from conftest import REPO, query, run_cli

PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "tests/dbt")


def _copy_project(target: Path) -> Path:
    """The dbt project (not the Python package) in a directory of its own."""
    for part in PROJECT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / part)
    return target


def _later(manifest: dict, **delta) -> str:
    return (datetime.fromisoformat(manifest["end"]) + timedelta(**delta)).isoformat()


def test_a_new_cohort_is_built_and_pushed_by_configuration_alone(warehouse, demo_data, tmp_path):
    project = _copy_project(tmp_path / "project")
    config = project / "dbt_project.yml"
    text = config.read_text()
    # a user adds one entry to the registry: no SQL anywhere
    addition = """
    - name: email_openers_3plus_14d
      description: Three or more human (not prefetched) email opens in the last 14 days.
      shape: engagement
      event: {signal: human_open, channels: [email]}
      min_count: 3
      window_days: 14
"""
    marker = "  # ---------------------------------------------------------------- activation audiences"
    assert marker in text
    config.write_text(text.replace(marker, addition.lstrip("\n") + "\n" + marker))
    assert any(c["name"] == "email_openers_3plus_14d" for c in yaml.safe_load(config.read_text())["vars"]["cohorts"])
    _, manifest = demo_data
    env = {"MSGMETRICS_PROJECT_DIR": str(project)}

    run_cli(warehouse, "build", "--as-of", manifest["end"], env=env)

    expected = query(warehouse, """
        select person_key from marts.fct_message_events
        where is_human_open and channel = 'email' and person_key is not null
          and occurred_at > cast(? as timestamp) - interval 14 day and occurred_at <= cast(? as timestamp)
        group by person_key having count(*) >= 3 order by 1""", [manifest["end"][:19]] * 2)
    members = query(warehouse, """
        select person_key from marts.cohort_membership where cohort_name = 'email_openers_3plus_14d' order by 1""")
    assert members == expected and len(members) > 0
    (shape, parameters, prop), = query(warehouse, """
        select shape, parameters, amplitude_property from marts.dim_cohorts where cohort_name = 'email_openers_3plus_14d'""")
    assert shape == "engagement" and prop == "cio_cohort_email_openers_3plus_14d"
    assert json.loads(parameters) == {"event": {"signal": "human_open", "channels": ["email"], "intents": []},
                                      "min_count": 3, "max_count": None, "window_days": 14}

    out = tmp_path / "dry"
    proc = run_cli(warehouse, "push", "--dry-run", "--dry-run-dir", str(out), "--output", "json", env=env)
    summary = json.loads(proc.stdout)
    pushable = {r[0] for r in query(warehouse, """
        select amplitude_user_id from marts.cohort_membership
        where cohort_name = 'email_openers_3plus_14d' and amplitude_user_id is not null""")}
    flagged = {i["user_id"] for line in (out / "identify.jsonl").read_text().splitlines()
               for i in [json.loads(line)] if i["user_properties"].get("$set", {}).get("cio_cohort_email_openers_3plus_14d")}
    assert flagged == pushable and pushable
    assert summary["sets_by_property"]["cio_cohort_email_openers_3plus_14d"] == len(pushable)
    assert summary["cohort_adds_planned"]["email_openers_3plus_14d"] == len(pushable)


REGISTRY_MISTAKES = {
    "unknown_shape": (
        [{"name": "x", "description": "d", "shape": "streak", "event": {"signal": "human_click"}, "window_days": 7}],
        "cohort 'x': unknown shape 'streak' (known: absence, combination, engagement, sequence, transition)"),
    "missing_parameter": (
        [{"name": "x", "description": "d", "shape": "engagement", "event": {"signal": "human_click"}}],
        "cohort 'x' (shape engagement) needs 'window_days' (null means ever)"),
    "duplicate_name": (
        [{"name": "x", "description": "d", "shape": "engagement", "event": {"signal": "human_click"}, "window_days": 7},
         {"name": "x", "description": "d", "shape": "engagement", "event": {"signal": "human_open"}, "window_days": 7}],
        "duplicate cohort name 'x': each cohort needs its own name"),
    "misspelt_parameter": (
        [{"name": "x", "description": "d", "shape": "engagement", "event": {"signal": "human_click"}, "window_days": 7,
          "window_day": 3}],
        "cohort 'x' (shape engagement): unknown parameter 'window_day'"),
    "unknown_signal": (
        [{"name": "x", "description": "d", "shape": "engagement", "event": {"signal": "click"}, "window_days": 7}],
        "cohort 'x' (shape engagement) 'event': unknown signal 'click'"),
    "unknown_part": (
        [{"name": "x", "description": "d", "shape": "combination", "all_of": ["y"]}],
        "cohort 'x' (shape combination) combines unknown cohort 'y'"),
    "cycle": (
        [{"name": "x", "description": "d", "shape": "combination", "all_of": ["y"]},
         {"name": "y", "description": "d", "shape": "combination", "all_of": ["x"]}],
        "combinations form a cycle: x, y"),
}

AUDIENCE_MISTAKES = {
    "shared_priority": (
        [{"name": "a", "description": "d", "cohort": "fatigue_risk", "incentive": True, "priority": 1},
         {"name": "b", "description": "d", "cohort": "never_engaged", "incentive": True, "priority": 1}],
        "audience 'b' and audience 'a' share priority 1: incentive priorities must differ"),
    "unknown_suppress_cohort": (
        [{"name": "a", "description": "d", "cohort": "fatigue_risk", "suppress": ["nobody"]}],
        "audience 'a': unknown suppress value 'nobody'"),
}


def test_registry_mistakes_fail_the_build_with_a_clear_message(tmp_path):
    """Each mistake stops `dbt parse` (so any build) with a message naming the cohort and the key."""
    cases = {name: {"cohorts": cohorts} for name, (cohorts, _) in REGISTRY_MISTAKES.items()}
    cases.update({name: {"audiences": audiences} for name, (audiences, _) in AUDIENCE_MISTAKES.items()})
    script = f"""
import json, sys
from dbt.cli.main import dbtRunner
cases = json.loads(sys.argv[1])
out = {{}}
for name, vars in cases.items():
    result = dbtRunner().invoke(["parse", "--project-dir", {str(REPO)!r}, "--profiles-dir",
                                 {str(REPO / 'loaders/msgmetrics/dbt_profile')!r}, "--target-path",
                                 {str(tmp_path / 'target')!r}, "--no-partial-parse", "--vars", json.dumps(vars)])
    out[name] = [result.success, str(result.exception)]
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path,
                          env={**os.environ, "MSGMETRICS_WAREHOUSE": str(tmp_path / "w.duckdb")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {name: message for name, (_, message) in {**REGISTRY_MISTAKES, **AUDIENCE_MISTAKES}.items()}
    for name, message in expected.items():
        success, error = results[name]
        assert not success, name
        assert "cohort registry (vars cohorts/audiences in dbt_project.yml): " + message in error, (name, error)


def test_purchases_are_every_order_once_with_its_conversion(built_warehouse):
    (orders,), = query(built_warehouse, "select count(*) from staging.stg_shop__orders")
    (conversions,), = query(built_warehouse, "select count(*) from marts.fct_message_events where metric = 'converted'")
    by_source = dict(query(built_warehouse, "select purchase_source, count(*) from marts.fct_purchases group by 1"))
    # the demo shop records each click-driven order and its converted metric at the same second
    assert by_source.get("conversion", 0) == 0
    assert by_source["order"] + by_source["order_and_conversion"] == orders
    assert by_source["order_and_conversion"] == conversions > 0
    mismatched = query(built_warehouse, """
        select count(*) from marts.fct_purchases p
        join marts.fct_message_events e on e.event_id = p.converted_event_id
        where e.person_key <> p.person_key or e.occurred_at <> p.purchased_at""")
    assert mismatched == [(0,)]
    unresolved = query(built_warehouse, """
        select count(*) from marts.fct_purchases where person_key is null""")[0][0]
    resolvable = query(built_warehouse, """
        select count(*) from staging.stg_shop__orders o
        where exists (select 1 from marts.xref_user_identity p
                      where p.customer_id = o.customer_id or p.email = o.email)""")[0][0]
    assert unresolved == orders - resolvable


def test_audiences_suppress_recent_clickers_and_never_give_two_incentives(built_warehouse):
    assert query(built_warehouse, """
        select count(*) from marts.audience_assignments a
        join marts.cohort_membership m on m.person_key = a.person_key and m.cohort_name = 'high_intent_engagers'
        where a.audience_name = 'browse_retargeting_offer' and a.is_assigned""") == [(0,)]
    suppressed = query(built_warehouse, """
        select count(*) from marts.audience_assignments
        where audience_name = 'browse_retargeting_offer' and status = 'suppressed'""")[0][0]
    eligible_clickers = query(built_warehouse, """
        select count(*) from marts.cohort_membership b
        where b.cohort_name = 'browse_intent_clickers'
          and exists (select 1 from marts.cohort_membership m where m.person_key = b.person_key
                      and m.cohort_name in ('high_intent_engagers', 'purchasers_7d'))""")[0][0]
    assert suppressed == eligible_clickers > 0
    assert query(built_warehouse, """
        select count(*) from (select person_key from marts.audience_assignments
                              where is_assigned and is_incentive group by 1 having count(*) > 1)""") == [(0,)]
    # what Amplitude gets: every assigned audience of a person with an Amplitude id, as cio_audience_<name>
    expected = query(built_warehouse, """
        select amplitude_user_id, 'cio_audience_' || audience_name from marts.audience_assignments
        where is_assigned and amplitude_user_id is not null order by 1, 2""")
    flags = query(built_warehouse, """
        select user_id, property_name from marts.fct_amplitude_user_properties where source_kind = 'audience' order by 1, 2""")
    assert flags == expected and flags


def _spells(warehouse) -> set[tuple]:
    return set(query(warehouse, """
        select cohort_name, person_key, entered_at, exited_at from marts.cohort_membership_history"""))


def _members(warehouse) -> set[tuple[str, str]]:
    return set(query(warehouse, "select cohort_name, person_key from marts.cohort_membership"))


def test_history_follows_as_of_forward_and_survives_rebuilds(warehouse, demo_data):
    _, manifest = demo_data
    moments = [manifest["end"], _later(manifest, days=1), _later(manifest, days=8)]
    snapshots = [_members(warehouse)]  # the fixture is built as of the end of the data
    for moment in moments[1:]:
        run_cli(warehouse, "build", "--as-of", moment, "--max-data-lag-hours", "1000")
        snapshots.append(_members(warehouse))
    stamps = [datetime.fromisoformat(m).replace(tzinfo=None) for m in moments]
    expected = set()  # spells: entered at the first build that has them, exited at the first that does not
    for cohort, person in set().union(*snapshots):
        start = None
        for i, snapshot in enumerate(snapshots):
            inside = (cohort, person) in snapshot
            if inside and start is None:
                start = i
            elif not inside and start is not None:
                expected.add((cohort, person, stamps[start], stamps[i]))
                start = None
        if start is not None:
            expected.add((cohort, person, stamps[start], None))
    history = _spells(warehouse)
    assert history == expected
    assert any(exited is not None for *_, exited in history) and any(exited is None for *_, exited in history)

    # rebuilding an earlier as_of, and a full refresh, leave history as it is
    run_cli(warehouse, "build", "--as-of", moments[0])
    run_cli(warehouse, "build", "--as-of", moments[2], "--full-refresh", "--max-data-lag-hours", "1000")
    assert _spells(warehouse) == history

    daily = query(warehouse, "select day, cohort_name, members, entered, exited from marts.cohort_sizes_daily")
    sizes = {(day, cohort): members for day, cohort, members, _, _ in daily}
    for stamp, snapshot in zip(stamps, snapshots):
        for cohort in {"high_intent_engagers", "fatigue_risk", "never_engaged"}:
            assert sizes[(stamp.date(), cohort)] == sum(1 for c, _ in snapshot if c == cohort), (stamp, cohort)
    day8 = {cohort: (entered, exited) for day, cohort, _, entered, exited in daily if day == stamps[2].date()}
    assert day8["high_intent_engagers"] == (
        0, sum(1 for c, p, _, exited in history if c == "high_intent_engagers" and exited == stamps[2]))


def test_stale_data_fails_the_build_and_leaves_the_cohorts_alone(warehouse, demo_data):
    _, manifest = demo_data
    marts = {"cohort_membership": "computed_at", "audience_assignments": "computed_at",
             "fct_amplitude_user_properties": "as_of", "cohort_membership_history": "computed_at"}
    before = {t: query(warehouse, f"select count(*), max({c}) from marts.{t}") for t, c in marts.items()}
    proc = run_cli(warehouse, "build", "--as-of", _later(manifest, days=3), check=False)
    assert proc.returncode == 1
    assert "data_fresh_for_as_of_int_cohorts__data_freshness" in proc.stderr and "--max-data-lag-hours" in proc.stderr
    # the failing test stops every cohort mart: what analysts and the push read is the last good build
    assert {t: query(warehouse, f"select count(*), max({c}) from marts.{t}") for t, c in marts.items()} == before
    run_cli(warehouse, "build", "--as-of", _later(manifest, days=1))  # within the default 36 h lag
    (data_through, computed_at), = query(warehouse, "select distinct data_through, computed_at from marts.cohort_membership")
    assert data_through == query(warehouse, "select max(occurred_at) from marts.fct_message_events")[0][0]
    assert computed_at > datetime(2026, 1, 1)
