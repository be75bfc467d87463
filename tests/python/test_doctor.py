"""`msgmetrics doctor`: each misconfiguration gives its ✘ (or ⚠), against real servers and data."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from conftest import run_cli
from msgmetrics.amplitude.fake_server import FakeAmplitude
from msgmetrics.doctor import FAIL, OK, WARN, check_amplitude, check_warehouse, project_vars, run_checks
from msgmetrics.settings import Warehouse

KEY = "doctor-key-0123456789"


@pytest.fixture
def fake():
    with FakeAmplitude(api_key=KEY) as server:
        yield server


def _by_name(checks):
    return {c.name: c for c in checks}


def _fresh(demo_data) -> datetime:
    return datetime.fromisoformat(demo_data[1]["end"]).replace(tzinfo=None) + timedelta(hours=1)


def test_a_healthy_setup_has_no_fail(warehouse, fake, demo_data):
    checks = run_checks(Warehouse(warehouse), environ={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url},
                        now=_fresh(demo_data))
    assert [c.status for c in checks if c.status == FAIL] == []
    assert _by_name(checks)["Amplitude API key works"].status == OK
    assert fake.event_count == 0  # the key check ingests nothing
    assert KEY not in "".join(c.line() for c in checks)


def test_missing_api_key_fails():
    (check,) = check_amplitude(environ={})
    assert check.status == FAIL and "AMPLITUDE_API_KEY" in check.detail


def test_wrong_key_fails_and_mentions_the_region(fake):
    checks = _by_name(check_amplitude(environ={"AMPLITUDE_API_KEY": "wrong-key-000000", "AMPLITUDE_INGEST_URL": fake.url}))
    key_check = checks["Amplitude API key works"]
    assert key_check.status == FAIL and "Invalid API key" in key_check.detail
    assert "AMPLITUDE_REGION=eu" in key_check.next_step
    assert "wrong-key-000000" not in key_check.line()


def test_no_events_selected_fails_and_opens_warn(warehouse, demo_data):
    variables = project_vars()
    no_events = _by_name(check_warehouse(Warehouse(warehouse), 0.8, 24, _fresh(demo_data),
                                         {**variables, "amplitude_event_metrics": []}))
    opens = _by_name(check_warehouse(Warehouse(warehouse), 0.8, 24, _fresh(demo_data),
                                     {**variables, "amplitude_event_metrics": ["clicked", "unsubscribed", "opened"]}))
    assert no_events["Events selected"].status == FAIL
    assert opens["Events selected"].status == WARN and "machine" in opens["Events selected"].detail


def test_low_identity_coverage_warns_and_conflicts_fail(warehouse, demo_data):
    low = _by_name(check_warehouse(Warehouse(warehouse), 0.95, 24, _fresh(demo_data)))["Canonical identity"]
    assert low.status == WARN and "email-only" in low.detail
    con = duckdb.connect(str(warehouse))
    con.execute("insert into marts.rpt_identity_conflicts values ('cio:x', 'cust-1', 'one_amplitude_id_many_people', 1, 2, 'customerio_id')")
    con.close()
    conflict = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))["Canonical identity"]
    assert conflict.status == FAIL and "conflict" in conflict.detail


def test_fewer_than_two_non_empty_cohorts_fails(warehouse, demo_data):
    con = duckdb.connect(str(warehouse))
    con.execute("delete from marts.cohort_membership where cohort_name <> 'fatigue_risk'")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))["Activation cohorts"]
    assert check.status == FAIL


def test_stale_data_fails(warehouse, demo_data):
    stale_now = _fresh(demo_data) + timedelta(hours=48)
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, stale_now))["Data freshness"]
    assert check.status == FAIL and "refresh cadence" in check.detail
    assert _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))["Data freshness"].status == OK


def test_cli_prints_the_checklist_and_exits_1_on_a_fail(warehouse, fake):
    proc = run_cli(warehouse, "doctor", check=False, env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url})
    assert proc.returncode == 1  # the demo data ends 2026-11-01: stale against the real clock
    assert "✔ Amplitude API key works" in proc.stdout and "✘ Data freshness" in proc.stdout
    assert KEY not in proc.stdout + proc.stderr


OVERLAP = "Suppression and priority rules for overlapping incentive audiences"


def test_incentive_audiences_ranked_by_priority_pass(warehouse, demo_data):
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[OVERLAP]
    assert check.status == OK and "4 incentive audiences; nobody gets two" in check.detail


def test_two_incentives_for_one_person_fail_and_an_unranked_incentive_warns(warehouse, demo_data):
    con = duckdb.connect(str(warehouse))
    cart = [r[0] for r in con.execute(
        "select person_key from marts.audience_assignments where audience_name = 'cart_recovery_offer' and is_assigned "
        "order by 1 limit 2").fetchall()]
    assert len(cart) == 2
    # what the marts hold when sms_first_offer has no priority and overlaps cart_recovery_offer
    con.execute("update marts.dim_audiences set priority = null where audience_name = 'sms_first_offer'")
    con.execute("""
        insert into marts.audience_assignments (audience_assignment_key, audience_name, person_key, is_incentive,
                                                status, is_assigned)
        select 'k-' || person_key, 'sms_first_offer', person_key, true, 'assigned', true
        from marts.audience_assignments
        where audience_name = 'cart_recovery_offer' and person_key in (?, ?)""", cart)
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[OVERLAP]
    assert check.status == FAIL
    assert check.detail == "people would get two incentives: cart_recovery_offer and sms_first_offer (2 people)"
    assert "distinct priority" in check.next_step

    con = duckdb.connect(str(warehouse))
    con.execute("delete from marts.audience_assignments where audience_assignment_key like 'k-%'")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[OVERLAP]
    assert check.status == WARN and check.detail.endswith("without a priority: sms_first_offer")
