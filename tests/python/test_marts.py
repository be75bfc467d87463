"""The dbt marts built from the generated demo data (the build itself runs in conftest)."""

from __future__ import annotations

import re

from conftest import query, run_cli


def _membership(warehouse) -> list[tuple]:
    return query(warehouse, "select cohort_name, person_key, amplitude_user_id, reason, as_of from marts.cohort_membership order by 1, 2")


def _events(warehouse) -> list[tuple]:
    return query(warehouse, "select count(*), count(distinct event_id), sum(hash(event_id)) from marts.fct_message_events")


REGISTRY_COHORTS = {
    "high_intent_engagers", "fatigue_risk", "sms_clickers_14d", "cart_clicked_no_purchase_6h",
    "clicked_and_purchased_30d", "email_ignorers_sms_clickers", "previously_engaged_now_cold", "never_engaged",
    "browse_intent_clickers", "cart_intent_clickers", "post_purchase_education_clickers",
    # building blocks (not pushed)
    "human_clickers_30d", "purchasers_30d", "purchasers_7d", "email_ignorers_30d", "sms_clickers_30d",
}


def test_every_cohort_is_built_and_plausible(built_warehouse):
    sizes = dict(query(built_warehouse, "select cohort_name, count(*) from marts.cohort_membership group by 1"))
    people = query(built_warehouse, "select count(*) from marts.xref_user_identity")[0][0]
    registry = {r[0] for r in query(built_warehouse, "select cohort_name from marts.dim_cohorts")}
    assert registry == REGISTRY_COHORTS
    # the data spans 30 days, so nobody can have clicked 31-90 days before as_of
    assert "previously_engaged_now_cold" not in sizes
    assert set(sizes) == REGISTRY_COHORTS - {"previously_engaged_now_cold"}
    assert all(0 < n < people for n in sizes.values())
    assert sizes["sms_clickers_14d"] <= sizes["sms_clickers_30d"] and sizes["purchasers_7d"] <= sizes["purchasers_30d"]
    assert sizes["cart_clicked_no_purchase_6h"] <= sizes["cart_intent_clickers"]
    assert sizes["clicked_and_purchased_30d"] <= min(sizes["human_clickers_30d"], sizes["purchasers_30d"])


def test_the_first_three_cohorts_keep_their_meaning(built_warehouse):
    """high_intent_engagers, fatigue_risk and sms_clickers_14d, recomputed from their definitions."""
    (as_of,), = query(built_warehouse, "select distinct as_of from marts.cohort_membership")
    expected = query(built_warehouse, """
        with e as (select * from marts.fct_message_events
                   where person_key is not null and occurred_at <= $as_of)
        select 'high_intent_engagers', person_key from e
        where is_human_click and occurred_at > $as_of - interval 7 day
        union
        select 'sms_clickers_14d', person_key from e
        where is_human_click and channel = 'sms' and occurred_at > $as_of - interval 14 day
        union
        (select 'fatigue_risk', person_key from e
         where metric = 'delivered' and occurred_at > $as_of - interval 14 day
         group by person_key having count(distinct delivery_id) >= 5
         except
         select 'fatigue_risk', person_key from e where is_human_click and occurred_at > $as_of - interval 14 day)
        order by 1, 2""", {"as_of": as_of})
    actual = query(built_warehouse, """
        select cohort_name, person_key from marts.cohort_membership
        where cohort_name in ('high_intent_engagers', 'sms_clickers_14d', 'fatigue_risk') order by 1, 2""")
    assert actual == expected and len({c for c, _ in actual}) == 3


def test_cohorts_ignore_machine_clicks(built_warehouse):
    only_machine = query(built_warehouse, """
        select count(*) from marts.cohort_membership m
        where m.cohort_name = 'high_intent_engagers' and not exists (
            select 1 from marts.fct_message_events e
            where e.person_key = m.person_key and e.is_human_click and e.occurred_at <= m.as_of
              and e.occurred_at > m.as_of - interval 7 day)""")
    assert only_machine == [(0,)]
    assert query(built_warehouse, "select count(*) from marts.fct_message_events where metric = 'clicked' and is_machine") != [(0,)]


def test_deliveries_and_daily_metrics_agree_with_events(built_warehouse):
    (deliveries,), = query(built_warehouse, "select count(distinct delivery_id) from marts.fct_message_events where delivery_id is not null")
    assert query(built_warehouse, "select count(*) from marts.fct_message_deliveries") == [(deliveries,)]
    clicked = query(built_warehouse, """
        select count(*) from marts.fct_message_deliveries where was_human_clicked""")[0][0]
    daily = query(built_warehouse, "select sum(unique_human_clicks) from marts.fct_message_metrics_daily")[0][0]
    assert 0 < clicked <= daily  # a delivery clicked on two days counts once per day


def test_identity_coverage_explains_every_person_and_event(built_warehouse):
    rows = query(built_warehouse, "select measure, outcome, n, share from marts.rpt_identity_coverage")
    for measure in ("people", "events"):
        assert abs(sum(share for m, _, _, share in rows if m == measure) - 1) < 1e-9
    outcomes = {(m, o) for m, o, _, _ in rows}
    assert ("people", "no Customer.io id (email-only person)") in outcomes
    assert ("people", "resolved by customerio_id") in outcomes
    (people,), = query(built_warehouse, "select count(*) from marts.xref_user_identity")
    assert sum(n for m, _, n, _ in rows if m == "people") == people
    assert query(built_warehouse, "select count(*) from marts.rpt_identity_conflicts") == [(0,)]


def test_same_as_of_rebuild_is_identical_and_a_reload_changes_nothing(warehouse, demo_data):
    data_dir, manifest = demo_data
    membership, events = _membership(warehouse), _events(warehouse)
    run_cli(warehouse, "load", "webhooks", "--reread", str(data_dir / "webhooks"))
    run_cli(warehouse, "build", "--as-of", manifest["end"])
    assert _events(warehouse) == events
    assert _membership(warehouse) == membership


def test_demo_prints_cohort_sizes_equal_to_sql_counts(tmp_path):
    warehouse = tmp_path / "demo.duckdb"
    proc = run_cli(warehouse, "demo", "--people", "150", "--days", "20", "--out", str(tmp_path / "data"))
    printed = dict((name, int(n.replace(",", ""))) for name, n in re.findall(r"^  (\w+)\s+([\d,]+) people", proc.stdout, re.M))
    counted = dict(query(warehouse, "select cohort_name, count(*) from marts.cohort_membership group by 1"))
    assert printed == counted and len(printed) >= 10
    audiences = {name: (int(n.replace(",", "")), int(s.replace(",", "")), int(o.replace(",", ""))) for name, n, s, o in re.findall(
        r"^  audience (\w+)\s+([\d,]+) assigned \([\d,]+ with an Amplitude user id; ([\d,]+) suppressed, ([\d,]+) outranked\)",
        proc.stdout, re.M)}
    assert audiences == {name: (a, s, o) for name, a, s, o in query(warehouse, """
        select d.audience_name, count(*) filter (where status = 'assigned'), count(*) filter (where status = 'suppressed'),
               count(*) filter (where status = 'outranked')
        from marts.dim_audiences d left join marts.audience_assignments a using (audience_name) group by 1""")}
    assert len(audiences) == 6
    assert "the fake Amplitude holds" in proc.stdout
    assert re.search(r"quarantined \d+:", proc.stdout)


def test_build_works_before_any_orders_are_loaded(tmp_path, demo_data):
    data_dir, manifest = demo_data
    warehouse = tmp_path / "w.duckdb"
    run_cli(warehouse, "load", "webhooks", str(data_dir / "webhooks"))
    run_cli(warehouse, "build", "--as-of", manifest["end"])
    assert query(warehouse, "select count(*) from staging.stg_shop__orders") == [(0,)]
    assert query(warehouse, "select count(*) from marts.cohort_membership")[0][0] > 0


def test_docs_builds_one_static_site_with_every_mart(warehouse):
    proc = run_cli(warehouse, "docs")
    site = warehouse.parent / "dbt_docs" / "static_index.html"
    assert str(site) in proc.stdout
    html = site.read_text()
    for model in ("cohort_membership", "xref_user_identity", "fct_message_deliveries", "fct_amplitude_events"):
        assert model in html
