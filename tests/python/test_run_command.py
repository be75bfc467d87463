"""`msgmetrics run`, the scheduled job, takes whichever Customer.io sources a set-up has."""

from __future__ import annotations

from pathlib import Path

from conftest import query, run_cli
from msgmetrics.customerio_fake import FakeCustomerIo, derive_workspace
from msgmetrics.dw_sync_export import write_dw_sync_export

COHORTS = "select cohort_name, person_key, amplitude_user_id from marts.cohort_membership"
DELIVERY_TIMES = """select delivery_id, person_key, channel, sent_at, delivered_at, first_human_opened_at,
                           first_human_clicked_at, unsubscribed_at
                    from marts.fct_message_deliveries"""


def test_run_needs_a_customerio_source(tmp_path):
    proc = run_cli(tmp_path / "w.duckdb", "run", "--orders", str(tmp_path), "--dry-run", check=False)
    assert proc.returncode == 2
    assert "give at least one Customer.io source: --webhooks PATH, --dw-sync PATH|URL or --api" in proc.stderr


def test_run_from_dw_sync_and_the_app_api_gives_the_webhook_cohorts(tmp_path, demo_data, built_warehouse):
    """A set-up without webhooks: the DW Sync export and the App API report the same deliveries;
    `run` loads both, counts each fact once, and builds the cohorts the webhook build has."""
    data_dir, manifest = demo_data
    export = tmp_path / "dw_sync"
    write_dw_sync_export(data_dir, export)
    warehouse: Path = tmp_path / "w.duckdb"
    key = "run-test-cio-key"
    with FakeCustomerIo(derive_workspace(data_dir), api_key=key) as fake:
        env = {"CUSTOMERIO_APP_API_KEY": key, "CUSTOMERIO_API_URL": fake.url}
        proc = run_cli(warehouse, "run", "--dw-sync", str(export), "--api", "--orders", str(data_dir / "orders"),
                       "--as-of", manifest["end"], "--dry-run", env=env)
    assert "webhooks:" not in proc.stdout
    assert proc.stdout.index("dw-sync:") < proc.stdout.index("api:") < proc.stdout.index("orders:")
    assert ", 0 throttled, 0 retried)" in proc.stdout
    assert "push to environment 'default' (dry run)" in proc.stdout
    # both sources hold the facts; the DW Sync export outranks the App API on every one, so
    # every fact (and every delivery's source list) is the export's
    assert set(query(warehouse, "select distinct event_source from intermediate.int_messaging__events_unioned")) \
        == {("dw_sync",), ("app_api",)}
    assert query(warehouse, "select distinct event_sources from marts.fct_message_deliveries") == [("dw_sync",)]
    assert set(query(warehouse, DELIVERY_TIMES)) == set(query(built_warehouse, DELIVERY_TIMES))
    cohorts = set(query(warehouse, COHORTS))
    assert cohorts == set(query(built_warehouse, COHORTS))
    assert {c for c, _, _ in cohorts} >= {"high_intent_engagers", "fatigue_risk", "sms_clickers_14d"}
    assert query(warehouse, "select command, status from msgmetrics_ledger.runs") == [("run", "success")]


def test_run_before_the_receivers_first_rotation_builds_and_pushes_what_is_loaded(tmp_path, warehouse, demo_data):
    """The receiver's folder holds only its active `.open` file: the load is a no-op, the job goes on."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "webhooks-20261101T000000.000000Z.open").write_text("")
    proc = run_cli(warehouse, "run", "--webhooks", str(inbox), "--as-of", demo_data[1]["end"], "--dry-run")
    assert "webhooks: nothing to load: no finished input files" in proc.stdout
    assert "push to environment 'default' (dry run)" in proc.stdout
    assert query(warehouse, "select count(*) > 0 from marts.cohort_membership") == [(True,)]
