"""`msgmetrics demo --source api` (deliveries through the fake App API) against the webhook demo
on the same generated data: the same cohorts, and names in dim_messages either way."""

from __future__ import annotations

import re

import pytest

from conftest import query, run_cli

ARGS = ("--people", "400", "--days", "30", "--seed", "11")


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> dict:
    out = {}
    for source in ("webhooks", "api"):
        tmp = tmp_path_factory.mktemp(f"demo_{source}")
        proc = run_cli(tmp / "demo.duckdb", "demo", "--source", source, *ARGS, "--out", str(tmp / "data"))
        out[source] = (tmp / "demo.duckdb", proc.stdout)
    return out


def _members(warehouse) -> set[tuple]:
    return set(query(warehouse, "select cohort_name, person_key from marts.cohort_membership"))


def test_api_demo_gives_the_same_cohorts_as_the_webhook_demo(demos):
    webhooks, api = _members(demos["webhooks"][0]), _members(demos["api"][0])
    assert {c for c, _ in webhooks} >= {"high_intent_engagers", "fatigue_risk", "sms_clickers_14d", "never_engaged"}
    assert api == webhooks


def test_api_demo_reads_deliveries_only_through_the_app_api(demos):
    warehouse, stdout = demos["api"]
    assert query(warehouse, "select distinct event_source from marts.fct_message_events") == [("app_api",)]
    (deliveries,), = query(warehouse, "select count(*) from raw_customerio_api.messages")
    assert re.search(rf"{deliveries:,} deliveries read in \d+ pages", stdout)
    assert ", 0 throttled, 0 retried)" in stdout
    assert "webhooks:" not in stdout
    # the same deliveries as the webhook demo, with the same first times
    webhook_deliveries = query(demos["webhooks"][0], """
        select count(*), count(*) filter (where was_human_clicked), count(*) filter (where was_delivered)
        from marts.fct_message_deliveries""")
    assert query(warehouse, """
        select count(*), count(*) filter (where was_human_clicked), count(*) filter (where was_delivered)
        from marts.fct_message_deliveries""") == webhook_deliveries


@pytest.mark.parametrize("source", ["webhooks", "api"])
def test_every_demo_names_its_messages(demos, source):
    warehouse, stdout = demos[source]
    assert "names: 4 campaigns, 6 campaign_actions, 9 newsletters, 18 newsletter_contents, 2 broadcasts" in stdout
    assert query(warehouse, """
        select count(*), count(parent_name), count(message_name) from marts.dim_messages""") == [(27, 27, 27)]  # 9 actions and transactional + 9 newsletters x 2 variants
    assert query(warehouse, """
        select parent_name, message_name from marts.dim_messages
        where parent_type = 'campaign' and action_id = '1012'""") == [("Cart abandonment", "Cart reminder SMS")]


def test_webhook_demo_reads_only_names_from_the_app_api(demos):
    warehouse, stdout = demos["webhooks"]
    assert query(warehouse, "select distinct event_source from marts.fct_message_events") == [("webhook",)]
    assert query(warehouse, """
        select count(*) from information_schema.tables
        where table_schema = 'raw_customerio_api' and table_name = 'messages'""") == [(0,)]
    assert stdout.index("webhooks:") < stdout.index("api:") < stdout.index("orders:")


def test_derived_app_api_metrics_are_the_first_times_of_the_webhook_events(demo_data, built_warehouse):
    """The fake's /v1/messages data is faithful to the webhook files: per delivery, each metric's
    time is the first webhook event's, the human/machine split follows the prefetched/machine flags."""
    from datetime import datetime, timezone

    from msgmetrics.customerio_fake import derive_workspace

    data_dir, _ = demo_data
    derived = {m["id"]: m for m in derive_workspace(data_dir).messages}
    rows = query(built_warehouse, """
        select delivery_id, channel, sent_at, delivered_at, first_opened_at, first_human_opened_at,
               first_clicked_at, first_human_clicked_at, bounced_at, converted_at
        from marts.fct_message_deliveries""")
    assert len(rows) == len(derived)

    def ts(value):
        return None if value is None else int(value.replace(tzinfo=timezone.utc).timestamp())

    mismatches = []
    for delivery_id, channel, sent, delivered, opened, human_opened, clicked, human_clicked, bounced, converted in rows:
        metrics = derived[delivery_id]["metrics"]
        email = channel == "email"
        expected = {"sent": ts(sent), "delivered": ts(delivered), "opened": ts(opened), "clicked": ts(clicked),
                    "bounced": ts(bounced), "converted": ts(converted),
                    "human_opened": ts(human_opened) if email else None,
                    "human_clicked": ts(human_clicked) if email else None}
        got = {key: metrics.get(key) for key in expected}
        if got != expected:
            mismatches.append((delivery_id, got, expected))
    assert mismatches == []
    types = {m["type"] for m in derived.values()}
    assert {"email", "twilio", "push"} <= types and "sms" not in types
    keys = [("msg_template_id" in m, "message_template_id" in m) for m in derived.values()]
    assert (True, False) in keys and (False, True) in keys and (True, True) not in keys
    assert datetime.fromtimestamp(min(m["created"] for m in derived.values()), timezone.utc) >= datetime(2026, 10, 2, tzinfo=timezone.utc)
