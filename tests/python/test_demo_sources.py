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
    assert {c for c, _ in webhooks} == {"high_intent_engagers", "fatigue_risk", "sms_clickers_14d"}
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
