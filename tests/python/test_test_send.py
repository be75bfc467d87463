"""`msgmetrics test-send` against the fake Amplitude, verified through its user search and activity endpoints."""

from __future__ import annotations

from conftest import run_cli
from msgmetrics.amplitude.fake_server import FakeAmplitude
from msgmetrics.test_send import TEST_EVENT_TYPE, TEST_PROPERTY

KEY, SECRET = "test-send-key-0000001", "test-send-secret-0001"


def test_test_send_delivers_labelled_events_and_verifies_them(tmp_path):
    with FakeAmplitude(api_key=KEY, secret_key=SECRET) as fake:
        env = {"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url, "AMPLITUDE_SECRET_KEY": SECRET,
               "AMPLITUDE_API_URL": fake.url}
        proc = run_cli(tmp_path / "w.duckdb", "test-send", "--user", "internal-qa-1", "--user", "internal-qa-2", env=env)
        events = fake.events
        props = fake.user_properties
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✔ internal-qa-1" in proc.stdout and "✔ internal-qa-2" in proc.stdout and "verified" in proc.stdout
    assert sorted(e["user_id"] for e in events) == ["internal-qa-1", "internal-qa-2"]
    assert all(e["event_type"] == TEST_EVENT_TYPE and e["event_properties"]["msgmetrics_test"] for e in events)
    assert TEST_PROPERTY in props["internal-qa-1"] and TEST_PROPERTY in props["internal-qa-2"]
    assert not (tmp_path / "w.duckdb").exists()  # test sends never touch the warehouse or its ledger


def test_without_the_secret_key_it_says_it_could_not_verify(tmp_path):
    with FakeAmplitude(api_key=KEY) as fake:
        proc = run_cli(tmp_path / "w.duckdb", "test-send", "--user", "internal-qa-1",
                       env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url})
        assert fake.event_count == 1
    assert proc.returncode == 0 and "not verified: set AMPLITUDE_SECRET_KEY" in proc.stdout


def test_verification_fails_when_the_events_never_show_up(tmp_path):
    with FakeAmplitude(api_key=KEY, secret_key="another-secret-value") as fake:  # lookups are refused
        proc = run_cli(tmp_path / "w.duckdb", "test-send", "--user", "internal-qa-1", "--verify-timeout", "1",
                       check=False, env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_INGEST_URL": fake.url,
                                         "AMPLITUDE_SECRET_KEY": SECRET, "AMPLITUDE_API_URL": fake.url})
    assert proc.returncode == 1 and "✘ internal-qa-1" in proc.stdout
