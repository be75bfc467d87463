"""msgmetrics_ledger.runs and `msgmetrics status`."""

from __future__ import annotations

import json

from conftest import query, run_cli
from msgmetrics.amplitude.fake_server import FakeAmplitude


def test_every_command_is_recorded_with_what_it_did(warehouse):
    with FakeAmplitude(api_key="runs-key-0000") as fake:
        run_cli(warehouse, "push", env={"AMPLITUDE_API_KEY": "runs-key-0000", "AMPLITUDE_INGEST_URL": fake.url})
        stored = fake.event_count
    failed = run_cli(warehouse, "push", check=False)  # no AMPLITUDE_API_KEY
    assert failed.returncode == 1

    runs = json.loads(run_cli(warehouse, "status", "--output", "json").stdout)

    assert [r["command"] for r in runs] == ["push", "push", "build", "load orders", "load webhooks"]
    push_failed, push_ok, build, orders, webhooks = runs
    assert push_failed["status"] == "failed" and "AMPLITUDE_API_KEY" in push_failed["error"]
    pushed = json.loads(push_ok["pushed"])
    assert push_ok["status"] == "success" and pushed["events_accepted"] == stored > 0
    assert pushed["run_id"] == push_ok["push_run_id"]
    assert build["dbt_invocation_id"] and json.loads(build["dbt_results"]).get("error", 0) == 0
    loaded = json.loads(webhooks["loaded"])["raw_customerio.webhook_events"]
    assert loaded["rows_added"] == query(warehouse, "select count(*) from raw_customerio.webhook_events")[0][0]
    load_ids = json.loads(webhooks["load_ids"])
    assert load_ids and set(load_ids) <= {r[0] for r in query(warehouse, "select load_id from raw_customerio._dlt_loads")}

    text = run_cli(warehouse, "status", "--limit", "2").stdout
    assert "failed" in text and "pushed" in text


def test_a_command_ends_with_the_warehouse_closed_and_checkpointed(warehouse):
    """The CLI skips the interpreter's teardown at exit (cli.run) but not the atexit handlers:
    dbt-duckdb's close checkpoints the warehouse there, so no write-ahead log is left behind,
    and the run is in the ledger."""
    proc = run_cli(warehouse, "build", "--select", "stg_customerio__message_events", "--no-unit-tests")

    assert proc.stdout.rstrip().splitlines()[-1].startswith("build: ")  # the output is all there
    assert not warehouse.with_name(warehouse.name + ".wal").exists()
    assert query(warehouse, "select command, status from msgmetrics_ledger.runs order by started_at desc limit 1") == [
        ("build", "success")]
