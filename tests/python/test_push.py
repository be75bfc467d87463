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
    values = dict(api_key=KEY, ingest_url=fake.url, timeout_s=2.0, backoff_base_s=0.01,
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
    # the timeout fault sleeps well past the client timeout; normal answers stay far below it even on a
    # loaded CI machine, so only the injected timeout is ever a timeout
    with FakeAmplitude(api_key=KEY, faults=faults, fault_rate=0.2, seed=3, timeout_sleep_s=2.5) as fake:
        first = push(Warehouse(warehouse), _config(fake))
        stored = [e["insert_id"] for e in fake.events]
        assert sorted(stored) == sorted(expected)  # every event, none twice
        assert fake.duplicates_dropped > 0  # ingest_then_500 really happened and the resend was deduplicated
        assert _flags_held(fake) == _expected_flags(warehouse)
        # the fake logs the injected-timeout request only when its sleeping handler answers, after
        # the client gave up on it: let that late log entry land before counting
        import time

        time.sleep(3.0)
        requests_after_first = len(fake.requests)

        second = push(Warehouse(warehouse), _config(fake))

        assert len(fake.requests) == requests_after_first, (  # a second push sends nothing
            fake.requests[requests_after_first - 3:], second.events_planned, second.identifications_planned)
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
        run_cli(warehouse, "build", "--as-of", later, "--max-data-lag-hours", "1000")  # no new data: allow it
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


def _cohort_config(fake):
    return _config(fake, secret_key="test-secret", app_id=123456, cohort_owner="owner@example.com", api_url=fake.url)


def _expected_cohorts(warehouse) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for name, user_id in query(warehouse, "select property_name, user_id from marts.fct_amplitude_user_properties"):
        members.setdefault(name, set()).add(user_id)
    return members


def _cohorts_held(fake) -> dict[str, set[str]]:
    return {c["name"]: c["members"] for c in fake.cohorts.values() if not c["archived"]}


def test_cohorts_are_created_once_then_only_entries_and_exits_are_sent(warehouse, demo_data):
    from msgmetrics.amplitude import AmplitudeCohortsClient

    _, manifest = demo_data
    with FakeAmplitude(api_key=KEY) as fake:
        first = push(Warehouse(warehouse), _cohort_config(fake))
        assert _cohorts_held(fake) == _expected_cohorts(warehouse)
        creates = [r for r in fake.cohort_requests if r.path.endswith("/upload")]
        assert len(creates) == len(_expected_cohorts(warehouse)) > 3  # one per non-empty pushed cohort and audience
        before = len(fake.cohort_requests)
        push(Warehouse(warehouse), _cohort_config(fake))
        assert len(fake.cohort_requests) == before  # nothing changed: no cohort request at all

        # someone adds a member by hand in Amplitude: msgmetrics must never remove it
        engagers_id = next(cid for cid, c in fake.cohorts.items() if c["name"] == "cio_cohort_high_intent_engagers")
        fake.add_known_users("hand-picked-user")
        AmplitudeCohortsClient(_cohort_config(fake)).update_membership(engagers_id, add=["hand-picked-user"])

        later = (datetime.fromisoformat(manifest["end"]) + timedelta(days=8)).isoformat()
        run_cli(warehouse, "build", "--as-of", later, "--max-data-lag-hours", "1000")  # no new data: allow it
        mark = len(fake.cohort_requests)
        second = push(Warehouse(warehouse), _cohort_config(fake))
        changes = fake.cohort_requests[mark:]
        expected = _expected_cohorts(warehouse)
        held = _cohorts_held(fake)

        assert held["cio_cohort_high_intent_engagers"] == expected.get("cio_cohort_high_intent_engagers", set()) | {"hand-picked-user"}
        assert held["cio_cohort_fatigue_risk"] == expected.get("cio_cohort_fatigue_risk", set())
        # per cohort, every ADD request comes before any REMOVE request
        for cohort_id in {r.cohort_id for r in changes}:
            ops = [op for r in changes if r.cohort_id == cohort_id and r.status == 200 for op, _ in r.operations]
            assert ops == sorted(ops)  # "ADD" < "REMOVE"
        assert second.cohort_changes_accepted["high_intent_engagers"]["removed"] > 0

        fake_full = push(Warehouse(warehouse), _cohort_config(fake), full_replace=True)
        held = _cohorts_held(fake)
    assert first.cohorts_api and fake_full.exit_code == 0
    # a full replace makes every non-empty cohort exactly what the marts say, hand-picked members included
    for name, members in expected.items():
        assert held[name] == members
    ledger_members = {}
    for name, user_id in query(warehouse, """
            select c.amplitude_name, m.user_id from msgmetrics_ledger.amplitude_cohort_members_current m
            join msgmetrics_ledger.amplitude_cohorts c using (environment, cohort_name)"""):
        ledger_members.setdefault(name, set()).add(user_id)
    assert ledger_members == expected


def test_a_push_killed_again_and_again_delivers_every_event_exactly_once(warehouse):
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    expected = _expected_events(warehouse)
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("AMPLITUDE_")},
           "AMPLITUDE_API_KEY": KEY, "AMPLITUDE_EVENTS_PER_REQUEST": "10", "AMPLITUDE_BACKOFF_BASE_S": "0.01",
           "AMPLITUDE_BACKOFF_MAX_S": "0.05", "AMPLITUDE_THROTTLE_HOLD_S": "0.05", "AMPLITUDE_TIMEOUT_S": "2"}
    kills, progress = 0, []
    with FakeAmplitude(api_key=KEY, response_delay_s=0.03, fault_rate=0.15, seed=21) as fake:
        env["AMPLITUDE_INGEST_URL"] = fake.url
        for _ in range(3):
            seen = len(fake.requests)
            proc = subprocess.Popen([sys.executable, "-m", "msgmetrics.cli", "--warehouse", str(warehouse), "push"],
                                    cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 60
            while len(fake.requests) < seen + 4 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, err
            progress.append(len(query(warehouse, "select * from msgmetrics_ledger.amplitude_events_sent")))
        run_cli(warehouse, "push", env=env)
        stored = [e["insert_id"] for e in fake.events]
        flags = _flags_held(fake)
    assert kills == 3 and progress == sorted(progress) and progress[-1] < len(expected), (kills, progress, len(expected))
    assert sorted(stored) == sorted(expected)  # every event arrived, none twice
    assert query(warehouse, "select count(*) from msgmetrics_ledger.amplitude_events_sent") == [(len(expected),)]
    assert flags == _expected_flags(warehouse)


def test_events_amplitude_refuses_are_dead_lettered_once_and_the_rest_arrives(warehouse):
    import duckdb

    con = duckdb.connect(str(warehouse))
    bad = [r[0] for r in con.execute("select insert_id from marts.fct_amplitude_events order by 1 limit 3").fetchall()]
    con.execute("update marts.fct_amplitude_events set user_id = 'abc' where insert_id in (select unnest(?))", [bad])
    con.close()
    expected = _expected_events(warehouse)
    with FakeAmplitude(api_key=KEY) as fake:  # ids shorter than 5 characters are invalid by default
        first = push(Warehouse(warehouse), _config(fake))
        second = push(Warehouse(warehouse), _config(fake))
        stored = {e["insert_id"] for e in fake.events}
    assert first.exit_code == 2 and first.events_rejected == 3
    assert stored == expected - set(bad)
    assert second.events_planned == 0 and second.exit_code == 0  # not resent on every run
    rows = query(warehouse, "select kind, record_key, reason from msgmetrics_ledger.amplitude_dead_letters order by 2")
    assert [(k, key) for k, key, _ in rows] == [("events", b) for b in sorted(bad)]
    assert all("user_id" in reason or "id" in reason for _, _, reason in rows)


def test_a_cohort_larger_than_one_request_is_uploaded_then_added_in_chunks(warehouse, monkeypatch):
    # Amplitude takes at most 100,000 ids per cohort request; shrink that limit so the demo's cohorts
    # exceed it: the first ids go in the upload, the rest in membership ADDs, and the ledger is exact
    from msgmetrics.amplitude import cohorts as cohorts_client
    from msgmetrics.amplitude import fake_server
    from msgmetrics.push import cohort_sync

    limit = 40
    monkeypatch.setattr(cohort_sync, "MAX_IDS_PER_REQUEST", limit)
    monkeypatch.setattr(cohorts_client, "MAX_IDS_PER_REQUEST", limit)  # caps the membership chunks
    monkeypatch.setattr(fake_server, "MAX_COHORT_IDS_PER_REQUEST", limit)  # the fake refuses more
    expected = _expected_cohorts(warehouse)
    assert max(len(m) for m in expected.values()) > 2 * limit
    with FakeAmplitude(api_key=KEY) as fake:
        push(Warehouse(warehouse), _cohort_config(fake))
        held = _cohorts_held(fake)
        sizes = [r.n_ids for r in fake.cohort_requests if r.method == "POST"]
        statuses = {r.status for r in fake.cohort_requests}
        again = len(fake.cohort_requests)
        push(Warehouse(warehouse), _cohort_config(fake))
        assert len(fake.cohort_requests) == again  # nothing left to send
    assert held == expected and statuses == {200} and max(sizes) <= limit
    ledger_members: dict[str, set[str]] = {}
    for name, user_id in query(warehouse, """
            select c.amplitude_name, m.user_id from msgmetrics_ledger.amplitude_cohort_members_current m
            join msgmetrics_ledger.amplitude_cohorts c using (environment, cohort_name)"""):
        ledger_members.setdefault(name, set()).add(user_id)
    assert ledger_members == expected
