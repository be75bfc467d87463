"""`msgmetrics doctor`: each misconfiguration gives its ✘ (or ⚠), against real servers and data."""

from __future__ import annotations

import shutil
import socket
from datetime import datetime, timedelta

import duckdb
import pytest

from conftest import query, run_cli
from msgmetrics.amplitude.fake_server import FakeAmplitude
from msgmetrics.doctor import FAIL, OK, WARN, check_amplitude, check_warehouse, project_vars, run_checks
from msgmetrics.intent_gaps import NARROWS, WIDENS, intent_uses
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


# ---------------------------------------------------------------- the Amplitude key check's other ✘
def test_an_unreachable_host_fails(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    checks = _by_name(check_amplitude(environ={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": f"http://127.0.0.1:{port}"},
                                      timeout_s=2))
    check = checks["Amplitude API key works"]
    assert check.status == FAIL and check.detail == f"http://127.0.0.1:{port} did not answer (ConnectionError)"
    assert "AMPLITUDE_INGEST_URL" in check.next_step


def test_a_firewall_403_fails(fake):
    fake.add_faults("403")
    check = _by_name(check_amplitude(environ={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url}))[
        "Amplitude API key works"]
    assert check.status == FAIL and check.detail == f"{fake.url} answered HTTP 403" and "firewall" in check.next_step


# ---------------------------------------------------------------- a warehouse that is not there yet
def test_a_missing_warehouse_and_unbuilt_marts_fail(tmp_path):
    missing = _by_name(check_warehouse(Warehouse(tmp_path / "nope.duckdb"), 0.8, 24))
    assert missing["Warehouse"].status == FAIL and "does not exist" in missing["Warehouse"].detail
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    marts = _by_name(check_warehouse(Warehouse(empty), 0.8, 24))["Marts"]
    assert marts.status == FAIL and marts.next_step == "run msgmetrics build"


def test_no_events_fails_and_says_build_when_data_was_loaded(warehouse, demo_data):
    con = duckdb.connect(str(warehouse))
    con.execute("delete from marts.fct_message_events")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))["Data freshness"]
    assert check.status == FAIL
    assert check.detail == "no events in the warehouse (loaded but not built: webhooks)"
    assert check.next_step == "run msgmetrics build"


# ---------------------------------------------------------------- freshness per source
def test_freshness_names_the_source_and_the_loaded_tables(warehouse, demo_data):
    now = _fresh(demo_data)
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, now))["Data freshness"]
    events, newest = query(warehouse, "select count(*), max(occurred_at) from marts.fct_message_events")[0]
    assert check.status == OK
    assert check.detail.startswith(
        f"newest event {newest:%Y-%m-%d %H:%M} UTC ({(now - newest).total_seconds() / 3600:,.1f} h ago) "
        f"from webhooks ({events:,} events); data last arrived: webhooks 20")
    assert ", orders 20" in check.detail and "App API" not in check.detail  # names were never loaded here
    stale = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data) + timedelta(hours=48)))
    assert stale["Data freshness"].next_step == ("stale suppression cohorts waste spend: load the latest data "
                                                 "(msgmetrics load webhooks PATH), build, then push")


@pytest.mark.parametrize("source, label, command", [
    ("api", "App API deliveries", "msgmetrics load api"),
    ("dw-sync", "Data Warehouse Sync", "msgmetrics load dw-sync PATH"),
])
def test_a_warehouse_fed_by_one_other_source_is_checked_against_that_source(single_source_demos, source, label,
                                                                            command):
    warehouse, manifest = single_source_demos[source]
    fresh = datetime.fromisoformat(manifest["end"]).replace(tzinfo=None) + timedelta(hours=1)
    checks = _by_name(check_warehouse(Warehouse(warehouse), 0.8, 24, fresh))
    assert [c.name for c in checks.values() if c.status == FAIL] == []
    (events,), = query(warehouse, "select count(*) from marts.fct_message_events")
    (newest,), = query(warehouse, "select max(occurred_at) from marts.fct_message_events")
    freshness = checks["Data freshness"]
    assert freshness.status == OK
    assert freshness.detail.startswith(f"newest event {newest:%Y-%m-%d %H:%M} UTC (")
    assert f" from {label} ({events:,} events); data last arrived: " in freshness.detail
    assert "webhooks" not in freshness.detail  # no webhook table in this warehouse
    assert checks["Activation cohorts"].status == OK and checks["Canonical identity"].status == OK
    assert checks["Messages without intent"].status == OK  # the demo names every message (fake App API)
    stale = _by_name(check_warehouse(Warehouse(warehouse), 0.8, 24, fresh + timedelta(hours=48)))["Data freshness"]
    assert stale.status == FAIL and f"load the latest data ({command}), build" in stale.next_step


def test_a_source_that_stopped_while_another_goes_on_warns(warehouse, demo_data):
    con = duckdb.connect(str(warehouse))
    con.execute("update raw_shop.orders set _loaded_at = timestamptz '2026-10-01 08:00:00+00'")
    con.close()
    now = _fresh(demo_data)
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, now))["Data freshness"]
    age = (now - datetime(2026, 10, 1, 8)).total_seconds() / 3600
    assert check.status == WARN
    assert check.detail.endswith(f"; no new data for over 24 h from: orders (last {age:,.1f} h ago)")
    assert check.next_step.endswith("msgmetrics load orders PATH")


# ---------------------------------------------------------------- messages without intent
INTENTS = "Messages without intent"


def test_messages_without_intent_warn_when_intent_cohorts_only_miss_people(warehouse, demo_data):
    """The conftest warehouse has no message names: its 18 newsletter variants have no intent,
    and the demo's intent filters only let people in, so those cohorts are smaller: ⚠."""
    n, deliveries = query(warehouse, "select count(*), sum(deliveries) from marts.rpt_messages_without_intent")[0]
    assert n == 18
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[INTENTS]
    assert check.status == WARN
    assert check.detail.startswith(f"18 messages without intent ({deliveries:,} deliveries; newsletter ")
    assert check.detail.endswith(
        "are not counted by intent filters, so these miss people: cart_clicked_no_purchase_6h (first: cart); "
        "browse_intent_clickers (event: browse); cart_intent_clickers (event: cart); post_purchase_education_clickers "
        "(event: post_purchase); cart_recovery_offer via cart_clicked_no_purchase_6h (first: cart); "
        "browse_retargeting_offer via browse_intent_clickers (event: browse)")
    assert "seeds/message_intents.csv" in check.next_step and "message_intent_patterns" in check.next_step


def test_messages_without_intent_fail_when_an_intent_filter_leaves_people_out(warehouse, demo_data):
    """An absence cohort 'no human click on a promo message': a promo newsletter without intent
    is not seen, so its clickers stay in the cohort and are flagged: ✘. So is an audience
    suppressed by an intent cohort (the suppression misses people and lets them through)."""
    con = duckdb.connect(str(warehouse))
    con.execute("""update marts.dim_cohorts set parameters = '{"absent": {"channels": ["email"], "intents": ["promo"],
        "signal": "human_click"}, "min_received": 5, "received": {"channels": [], "intents": [], "signal": "delivery"},
        "window_days": 14}' where cohort_name = 'fatigue_risk'""")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[INTENTS]
    assert check.status == FAIL
    assert check.detail.endswith("so people who should be left out would be flagged: fatigue_risk (absent: promo)")

    con = duckdb.connect(str(warehouse))
    con.execute("""update marts.dim_cohorts set parameters = '{"absent": {"channels": [], "intents": [],
        "signal": "human_click"}, "min_received": 5, "received": {"channels": [], "intents": [], "signal": "delivery"},
        "window_days": 14}' where cohort_name = 'fatigue_risk'""")
    con.execute("update marts.dim_audiences set suppressed_by_cohorts = 'purchasers_7d, cart_intent_clickers' "
                "where audience_name = 'sms_first_offer'")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[INTENTS]
    assert check.status == FAIL
    assert check.detail.endswith("flagged: sms_first_offer via cart_intent_clickers (event: cart)")


def test_messages_without_intent_outside_the_windows_or_none_pass(warehouse, demo_data):
    con = duckdb.connect(str(warehouse))  # every intent filter looks back at most 30 days from as_of
    con.execute("update marts.rpt_messages_without_intent set last_seen_at = timestamp '2026-10-01 23:59:59'")
    con.close()
    (deliveries,), = query(warehouse, "select sum(deliveries) from marts.rpt_messages_without_intent")
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[INTENTS]
    assert check.status == OK and check.detail == (
        f"18 messages without intent ({deliveries:,} deliveries), none on the channels and in the windows they read "
        "(6 pushed cohorts and audiences filter by intent)")
    con = duckdb.connect(str(warehouse))
    con.execute("delete from marts.rpt_messages_without_intent")
    con.close()
    check = _by_name(check_warehouse(Warehouse(warehouse), 0.5, 24, _fresh(demo_data)))[INTENTS]
    assert check.status == OK
    assert check.detail == "every message has an intent (6 pushed cohorts and audiences filter by intent)"


def test_intent_uses_follow_combinations_and_audiences():
    cohorts = [
        ("cart_clickers", "engagement", {"event": {"signal": "human_click", "intents": ["cart"]}, "window_days": 7}, False),
        ("few_promo_clicks", "engagement",
         {"event": {"signal": "human_click", "intents": ["promo"], "channels": ["sms"]}, "window_days": 30,
          "max_count": 2}, False),
        ("cart_not_promo", "combination", {"all_of": ["cart_clickers"], "none_of": ["few_promo_clicks"]}, True),
        ("plain", "engagement", {"event": {"signal": "human_click"}, "window_days": 7}, True),
    ]
    audiences = [("offer", "plain", "cart_clickers", True), ("unpushed", "cart_clickers", None, False)]
    uses = {(u.target, u.cohort, u.parameter, u.direction, u.channels, u.window_days) for u in intent_uses(cohorts, audiences)}
    assert uses == {
        ("cart_not_promo", "cart_clickers", "event", NARROWS, (), 7),
        ("cart_not_promo", "few_promo_clicks", "event", NARROWS, ("sms",), 30),  # max_count widens, none_of flips it
        ("offer", "cart_clickers", "event", WIDENS, (), 7),  # a suppression that misses people lets them in
    }
