"""The real push code against the strict fake Amplitude on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from conftest import query, run_cli
from msgmetrics.amplitude import AmplitudeAuthError, AmplitudeConfig
from msgmetrics.amplitude.fake_server import FakeAmplitude
from msgmetrics.push import push
from msgmetrics.settings import Warehouse

KEY = "test-key-0123456789"


def _config(fake: FakeAmplitude, **overrides) -> AmplitudeConfig:
    values = dict(api_key=KEY, ingest_url=fake.url, timeout_s=0.5, backoff_base_s=0.01,
                  backoff_max_s=0.05, throttle_hold_s=0.05, max_retry_seconds=30)
    return AmplitudeConfig(**{**values, **overrides})


def _expected_events(warehouse) -> set[str]:
    return {r[0] for r in query(warehouse, "select insert_id from marts.fct_amplitude_events")}


def _expected_flags(warehouse) -> dict[str, set[str]]:
    flags: dict[str, set[str]] = {}
    for user_id, name in query(warehouse, "select user_id, property_name from marts.fct_amplitude_user_properties"):
        flags.setdefault(user_id, set()).add(name)
    return flags


def _flags_held(fake: FakeAmplitude) -> dict[str, set[str]]:
    return {u: {k for k, v in props.items() if v is True} for u, props in fake.user_properties.items()
            if any(v is True for v in props.values())}


def test_every_event_arrives_exactly_once_despite_429_and_5xx(warehouse):
    expected = _expected_events(warehouse)
    assert len(expected) > 100
    faults = ["429", "500", "ingest_then_500", "timeout", "503", "ingest_then_500", "429"]
    with FakeAmplitude(api_key=KEY, faults=faults, fault_rate=0.2, seed=3, timeout_sleep_s=1.0) as fake:
        first = push(Warehouse(warehouse), _config(fake))
        stored = [e["insert_id"] for e in fake.events]
        assert sorted(stored) == sorted(expected)  # every event, none twice
        assert fake.duplicates_dropped > 0  # ingest_then_500 really happened and the resend was deduplicated
        assert _flags_held(fake) == _expected_flags(warehouse)
        requests_after_first = len(fake.requests)

        second = push(Warehouse(warehouse), _config(fake))

        assert len(fake.requests) == requests_after_first  # a second push sends nothing
    assert first.events_accepted == len(expected) and first.retries > 0 and first.exit_code == 0
    assert (second.events_planned, second.property_sets_planned, second.property_unsets_planned) == (0, 0, 0)
    assert query(warehouse, "select count(*), count(distinct insert_id) from msgmetrics_ledger.amplitude_events_sent") == [
        (len(expected), len(expected))]
    assert [r[0] for r in query(warehouse, "select status from msgmetrics_ledger.push_runs order by started_at")] == [
        "success", "success"]


def test_event_payload_is_exact_and_carries_no_email(warehouse):
    row = query(warehouse, """
        select insert_id, event_id, user_id, event_type, time_ms, channel, delivery_id, campaign_id, action_id, href, link_id
        from marts.fct_amplitude_events where metric = 'clicked' and channel = 'email' and campaign_id is not null
        order by insert_id limit 1""")[0]
    insert_id, event_id, user_id, event_type, time_ms, channel, delivery_id, campaign_id, action_id, href, link_id = row
    with FakeAmplitude(api_key=KEY) as fake:
        push(Warehouse(warehouse), _config(fake))
        sent = next(e for e in fake.events if e["insert_id"] == insert_id)
        everything = json.dumps(fake.events) + json.dumps(fake.identifications)
    assert sent == {
        "user_id": user_id, "event_type": "Email Link Clicked", "time": time_ms, "insert_id": f"cio-{event_id}",
        "event_properties": {
            "channel": "email", "metric": "clicked", "delivery_id": delivery_id, "parent_type": "campaign",
            "campaign_id": campaign_id, "action_id": action_id, "href": href, "link_id": link_id,
            "is_machine": False, "cio_event_id": event_id,
        },
    }
    assert event_type == "Email Link Clicked" and channel == "email"
    assert isinstance(time_ms, int) and time_ms > 1_700_000_000_000
    assert "@" not in everything  # no email address in any field unless configured


def test_invalid_key_stops_with_a_clear_error_and_marks_nothing_sent(warehouse):
    with FakeAmplitude(api_key="the-right-key") as fake:
        with pytest.raises(AmplitudeAuthError) as raised:
            push(Warehouse(warehouse), _config(fake, api_key="a-wrong-key-000"))
        assert fake.event_count == 0
    assert "a-wrong-key-000" not in str(raised.value)
    assert query(warehouse, "select count(*) from msgmetrics_ledger.amplitude_events_sent") == [(0,)]
    assert query(warehouse, "select count(*) from msgmetrics_ledger.amplitude_user_property_log") == [(0,)]
    assert query(warehouse, "select status from msgmetrics_ledger.push_runs") == [("failed",)]


def test_cli_push_with_wrong_key_exits_1_without_traceback(warehouse):
    with FakeAmplitude(api_key="the-right-key") as fake:
        proc = run_cli(warehouse, "push", check=False,
                       env={"AMPLITUDE_API_KEY": "wrong-key-123", "AMPLITUDE_INGEST_URL": fake.url})
    assert proc.returncode == 1
    assert "Invalid API key" in proc.stderr or "rejected" in proc.stderr
    assert "wrong-key-123" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_when_as_of_moves_on_people_who_leave_are_unset(warehouse, demo_data):
    _, manifest = demo_data
    before = _expected_flags(warehouse)
    with FakeAmplitude(api_key=KEY) as fake:
        push(Warehouse(warehouse), _config(fake))
        later = (datetime.fromisoformat(manifest["end"]) + timedelta(days=8)).isoformat()
        run_cli(warehouse, "build", "--as-of", later)
        after = _expected_flags(warehouse)
        second = push(Warehouse(warehouse), _config(fake))
        held = _flags_held(fake)
        unset_ops = [(i["user_id"], name) for i in fake.identifications
                     for name in i["user_properties"].get("$unset", {})]
    left = {(u, p) for u, props in before.items() for p in props} - {(u, p) for u, props in after.items() for p in props}
    assert any(p == "cio_cohort_high_intent_engagers" for _, p in left)  # 8 days later the 7-day clickers are gone
    assert sorted(unset_ops) == sorted(left)
    assert held == after
    assert second.property_unsets_planned == len(left)


def test_dry_run_writes_the_exact_payloads_and_sends_nothing(warehouse, tmp_path):
    out = tmp_path / "dry"
    proc = run_cli(warehouse, "push", "--dry-run", "--dry-run-dir", str(out), "--output", "json")
    summary = json.loads(proc.stdout)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    idents = [json.loads(line) for line in (out / "identify.jsonl").read_text().splitlines()]
    assert summary["events_planned"] == len(events) == len(_expected_events(warehouse))
    assert summary["identifications_planned"] == len(idents) == len(_expected_flags(warehouse))
    assert {e["insert_id"] for e in events} == _expected_events(warehouse)
    assert summary["exit_code"] == 0 and summary["dry_run"] is True
    # a dry run marks nothing as sent: the next real plan is the same
    assert query(warehouse, "select count(*) from msgmetrics_ledger.amplitude_events_sent") == [(0,)]


def test_a_resend_outside_the_7_day_insert_id_window_is_warned(warehouse, caplog):
    import duckdb

    from msgmetrics.push import ledger

    with FakeAmplitude(api_key=KEY, faults=["invalid_key"]) as fake:  # first attempt fails: nothing confirmed
        with pytest.raises(AmplitudeAuthError):
            push(Warehouse(warehouse), _config(fake))
    con = duckdb.connect(str(warehouse))
    attempted = con.execute(f"select count(*) from {ledger.S}.amplitude_events_attempted").fetchone()[0]
    con.execute(f"update {ledger.S}.amplitude_events_attempted set first_attempted_at = first_attempted_at - interval 8 day "
                f"where insert_id in (select insert_id from {ledger.S}.amplitude_events_attempted order by 1 limit 10)")
    con.close()
    with FakeAmplitude(api_key=KEY) as fake, caplog.at_level("WARNING"):
        result = push(Warehouse(warehouse), _config(fake))
    assert attempted == len(_expected_events(warehouse))
    assert result.stale_resends == 10 and result.events_accepted == attempted
    assert "more than 7 days ago" in caplog.text
