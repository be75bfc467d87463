"""The App API source (`msgmetrics load api`) against the fake App API on 127.0.0.1: paging,
windows, the re-read window, rate limits, retries, auth, regions and Customer.io's quirks.
The real source, client and dlt pipeline run; only Customer.io is replaced by the fake."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from conftest import query, run_cli
from msgmetrics.customerio_fake import FakeCustomerIo, Workspace
from msgmetrics.customerio_fake.server import add_months
from msgmetrics.load import ApiSettings, load_api
from msgmetrics.settings import Warehouse
from msgmetrics.sources.customerio_api import AppApiAuthError, AppApiError
from msgmetrics.sources.customerio_api.helpers import DAY_S, base_url_for, read_start, windows
from msgmetrics.writer_lock import writer_lock

KEY = "cio-test-key-7f3a9c"
T0 = 1790812800  # 2026-10-01T00:00:00Z
FAST = {"backoff_base_s": 0.05}  # retries in tests need not wait seconds


def message(i: int, created: int, **changes) -> dict:
    """A /v1/messages object shaped like the spec's examples (§2.5)."""
    msg = {
        "id": f"d-{i:06d}", "deduplicate_id": f"d-{i:06d}:{created + 5}", "created": created, "type": "email",
        "customer_id": f"cust-{i % 50:03d}",
        "customer_identifiers": {"id": f"cust-{i % 50:03d}", "email": f"p{i % 50}@example.com",
                                 "cio_id": f"c{i % 50:05d}"},
        "recipient": f"p{i % 50}@example.com", "subject": "Hello", "failure_message": None, "forgotten": False,
        "campaign_id": 7, "action_id": 42, "parent_action_id": None, "newsletter_id": None, "content_id": None,
        "broadcast_id": None, "trigger_event_id": None, "msg_template_id": 42,
        "metrics": {"created": created, "sent": created, "delivered": created + 5},
    }
    msg.update(changes)
    return msg


def spread(n: int, start: int, end: int) -> list[dict]:
    step = max(1, (end - start) // n)
    return [message(i, start + i * step) for i in range(n)]


def _load(tmp_path: Path, fake: FakeCustomerIo, name: str = "w.duckdb", **kwargs):
    warehouse = Warehouse(tmp_path / name)
    api = ApiSettings(api_key=kwargs.pop("api_key", KEY), api_url=kwargs.pop("api_url", fake.url),
                      region=kwargs.pop("region", "us"))
    kwargs.setdefault("client_options", FAST)
    return warehouse, load_api(warehouse, api, **kwargs)


def _message_requests(fake: FakeCustomerIo):
    return [r for r in fake.requests if r.path == "/v1/messages"]


# ---------------------------------------------------------------- pure helpers
def test_region_picks_the_data_center_and_the_url_overrides_it():
    assert base_url_for("us") == "https://api.customer.io"
    assert base_url_for("EU") == "https://api-eu.customer.io"
    assert base_url_for(None) == "https://api.customer.io"
    assert base_url_for("eu", "http://127.0.0.1:9/") == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="CUSTOMERIO_REGION must be one of eu, us"):
        base_url_for("apac")


def test_windows_are_contiguous_at_most_180_days_and_never_overlap():
    start, end = T0 - 400 * DAY_S, T0
    spans = windows(start, end)
    assert spans[0][0] == start and spans[-1][1] == end and len(spans) == 3
    assert all(hi - lo < 180 * DAY_S for lo, hi in spans)
    assert all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:]))
    assert all(add_months(lo, 6) >= hi for lo, hi in spans)  # inside the API's 6 calendar months
    assert windows(T0, T0) == [(T0, T0)]
    thirds = windows(T0, T0 + 9 * DAY_S - 1, min_parts=3)  # side by side: at least 3 windows
    assert thirds == [(T0 + k * 3 * DAY_S, T0 + (k + 1) * 3 * DAY_S - 1) for k in range(3)]


def test_read_start_since_then_previous_end_minus_reread_then_backfill():
    assert read_start(since=T0 - 5, read_until=T0, reread_days=7, until=T0 + 10) == T0 - 5
    assert read_start(since=None, read_until=T0, reread_days=7, until=T0 + DAY_S) == T0 - 7 * DAY_S
    assert read_start(since=None, read_until=None, reread_days=7, until=T0) == T0 - 180 * DAY_S


# ---------------------------------------------------------------- paging
@pytest.mark.parametrize("last_next", ["omit", "empty"])
def test_pages_follow_next_until_it_is_missing_or_empty(tmp_path, last_next):
    with FakeCustomerIo(Workspace(messages=spread(2500, T0, T0 + 20 * DAY_S)), api_key=KEY, last_next=last_next,
                        now=T0 + 30 * DAY_S) as fake:
        warehouse, result = _load(tmp_path, fake, resources=["messages"], since=T0, until=T0 + 30 * DAY_S,
                                  fetch_threads=1)
    pages = _message_requests(fake)
    assert [(r.status, r.items, "start" in r.query) for r in pages] == [
        (200, 1000, False), (200, 1000, True), (200, 500, True)]
    assert all(r.query["limit"] == "1000" for r in pages)
    assert result.rows_added == 2500 and result.stats.pages == 3
    assert query(warehouse.path, "select count(*), count(distinct id) from raw_customerio_api.messages") == [(2500, 2500)]


def test_a_backfill_over_a_year_reads_windows_of_at_most_six_months(tmp_path):
    start, end = T0 - 420 * DAY_S, T0  # 14 months; the fake refuses (400) any window over 6 months
    with FakeCustomerIo(Workspace(messages=spread(1200, start, end)), api_key=KEY, window_policy="reject") as fake:
        warehouse, result = _load(tmp_path, fake, resources=["messages"], since=start, until=end)
    spans = sorted({(int(r.query["start_ts"]), int(r.query["end_ts"])) for r in _message_requests(fake)})
    assert spans == windows(start, end, min_parts=3) and len(spans) == 3
    assert all(r.status == 200 for r in fake.requests)
    assert query(warehouse.path, "select count(distinct id), min(created), max(created) from raw_customerio_api.messages") == [
        (1200, start, start + 1199 * ((end - start) // 1200))]


# ---------------------------------------------------------------- rate limit, retries, errors
def test_never_over_ten_requests_per_second_and_retry_after_is_obeyed(tmp_path):
    fake = FakeCustomerIo(Workspace(messages=spread(24_000, T0, T0 + 10 * DAY_S)), api_key=KEY)
    fake.add_faults(*([None] * 12), "429")  # one throttled answer the client must wait out
    with fake:
        _, result = _load(tmp_path, fake, resources=["messages"], since=T0, until=T0 + 10 * DAY_S)
    log = fake.requests
    assert fake.rate_limited == 0  # the server never saw more than 10 in one second from us
    arrivals = [r.at for r in log]
    assert max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals) <= 10
    throttled = next(i for i, r in enumerate(log) if r.status == 429)
    assert log[throttled].fault == "429"
    again = next(r for r in log[throttled + 1:] if r.query == log[throttled].query)  # the same page again
    assert again.status == 200 and again.at - log[throttled].at >= 1.0  # after Retry-After: 1
    assert result.rows_added == 24_000 and result.stats.http.throttled == 1
    assert len(log) == result.stats.pages + 1 == result.stats.http.requests
    assert len({(r.query["start_ts"], r.query["end_ts"]) for r in log}) == 3  # three windows side by side


def test_server_errors_and_dropped_connections_are_retried(tmp_path):
    fake = FakeCustomerIo(Workspace(messages=spread(1500, T0, T0 + DAY_S)), api_key=KEY)
    fake.add_faults("500", "reset", "503")
    with fake:
        warehouse, result = _load(tmp_path, fake, resources=["messages"], since=T0, until=T0 + DAY_S, fetch_threads=1)
    assert [r.status for r in fake.requests] == [500, -1, 503, 200, 200]
    assert result.rows_added == 1500 and result.stats.http.server_errors == 3


def test_persistent_server_errors_stop_with_a_clear_error_and_load_nothing(tmp_path):
    fake = FakeCustomerIo(Workspace(messages=spread(10, T0, T0 + DAY_S)), api_key=KEY)
    fake.add_faults(*["502"] * 6)
    with fake, pytest.raises(Exception) as failure:
        _load(tmp_path, fake, resources=["messages"], since=T0, until=T0 + DAY_S, fetch_threads=1)
    root = failure.value
    while root.__cause__ is not None:
        root = root.__cause__
    assert isinstance(root, AppApiError) and "answered 502" in str(root) and "6 times" in str(root)
    assert len(fake.requests) == 6


def test_a_daily_quota_429_without_retry_after_stops_at_once(tmp_path):
    fake = FakeCustomerIo(Workspace(messages=spread(10, T0, T0 + DAY_S)), api_key=KEY)
    fake.add_faults("quota")
    with fake, pytest.raises(Exception, match="daily quota"):
        _load(tmp_path, fake, resources=["messages"], since=T0, until=T0 + DAY_S, fetch_threads=1)
    assert len(fake.requests) == 1


def test_401_midway_is_fatal_and_nothing_is_half_loaded(tmp_path):
    workspace = Workspace(messages=spread(3000, T0, T0 + DAY_S),
                          campaigns=[{"id": 7, "name": "Welcome", "created": T0, "updated": T0}],
                          campaign_actions={7: [{"id": 42, "name": "Welcome email", "type": "email"}]})
    fake = FakeCustomerIo(workspace, api_key=KEY)
    fake.add_faults(None, None, None, "401")  # campaigns, actions, page 1 fine; the key dies on page 2
    with fake:
        with pytest.raises(Exception) as failure:
            warehouse, _ = _load(tmp_path, fake, since=T0, until=T0 + DAY_S)
        root = failure.value
        while root.__cause__ is not None:
            root = root.__cause__
        assert isinstance(root, AppApiAuthError)
        assert "401" in str(root) and "CUSTOMERIO_REGION=eu" in str(root) and KEY not in str(root)
        path = tmp_path / "w.duckdb"
        if path.exists():
            tables = query(path, "select table_name from information_schema.tables where table_schema = 'raw_customerio_api' "
                                 "and table_name not like '\\_dlt%' escape '\\'")
            assert tables == []  # not the campaigns, not the first page
        # the next run (key fixed) loads everything: the failed run left no state behind
        _, result = _load(tmp_path, fake, since=T0, until=T0 + DAY_S)
    assert result.rows_added == 3000
    assert query(path, "select count(*) from raw_customerio_api.campaigns") == [(1,)]


def test_a_wrong_key_fails_in_the_cli_with_one_clear_line_and_never_shows_the_key(tmp_path):
    with FakeCustomerIo(Workspace(messages=spread(5, T0, T0 + DAY_S)), api_key=KEY) as fake:
        wrong = "wrong-key-0123456789abcdef"
        proc = run_cli(tmp_path / "w.duckdb", "-v", "load", "api", "--since", "2026-10-01", check=False,
                       env={"CUSTOMERIO_APP_API_KEY": wrong, "CUSTOMERIO_API_URL": fake.url})
    assert proc.returncode == 1
    assert "error: Customer.io App API answered 401 Unauthorized" in proc.stderr
    assert "CUSTOMERIO_REGION=eu" in proc.stderr and "Nothing was loaded" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    runs = query(tmp_path / "w.duckdb", "select command, status, error from msgmetrics_ledger.runs")
    assert runs[0][:2] == ("load api", "failed") and wrong not in runs[0][2]


def test_eu_workspace_needs_the_eu_host(tmp_path):
    workspace = Workspace(messages=spread(20, T0, T0 + DAY_S))
    with FakeCustomerIo(workspace, api_key=KEY, region="eu") as fake:
        # the real region -> host mapping, pointed at the two fake hosts (no DNS involved)
        api = ApiSettings(api_key=KEY, region="us")
        with pytest.raises(Exception) as failure:
            load_api(Warehouse(tmp_path / "us.duckdb"), api, resources=["messages"], since=T0, until=T0 + DAY_S,
                     region_urls=fake.region_urls)
        root = failure.value
        while root.__cause__ is not None:
            root = root.__cause__
        assert isinstance(root, AppApiAuthError)
        assert "the US data center" in str(root) and "CUSTOMERIO_REGION=eu" in str(root)
        result = load_api(Warehouse(tmp_path / "eu.duckdb"), ApiSettings(api_key=KEY, region="eu"),
                          resources=["messages"], since=T0, until=T0 + DAY_S, region_urls=fake.region_urls)
    assert {(r.region, r.status) for r in fake.requests} == {("us", 401), ("eu", 200)}
    assert result.rows_added == 20


# ---------------------------------------------------------------- the re-read window
def test_incremental_runs_reread_the_window_and_merge_a_late_click(tmp_path):
    t1, t2 = T0 + 20 * DAY_S, T0 + 21 * DAY_S
    old = message(1001, t1 - 3 * DAY_S)  # created 3 days before run 1 ended
    ancient = message(1002, t1 - 15 * DAY_S)  # outside the 7-day re-read window
    fake = FakeCustomerIo(Workspace(messages=[old, ancient] + spread(100, T0, t1 - DAY_S)), api_key=KEY)
    with fake:
        warehouse, first = _load(tmp_path, fake, resources=["messages"], since=T0, until=t1)
        run_cli(warehouse.path, "build", "--as-of", "2026-10-21T00:00:00Z")  # t1: the data is fresh
        assert query(warehouse.path, "select was_clicked from marts.fct_message_deliveries where delivery_id = 'd-001001'") == [(False,)]
        # opens and clicks land on old deliveries: a human click on `old`, and one on `ancient`
        click = t1 + 3600
        fake.upsert_messages([
            {**old, "deduplicate_id": f"{old['id']}:{click}",
             "metrics": {**old["metrics"], "opened": click - 60, "human_opened": click - 60, "clicked": click,
                         "human_clicked": click}},
            {**ancient, "metrics": {**ancient["metrics"], "clicked": click, "human_clicked": click}},
        ])
        fake.clear_requests()
        _, second = _load(tmp_path, fake, resources=["messages"], until=t2)
    spans = sorted({(int(r.query["start_ts"]), int(r.query["end_ts"])) for r in _message_requests(fake)})
    assert spans == windows(t1 - 7 * DAY_S, t2, min_parts=3)  # only the re-read window, up to now
    assert first.rows_added == 102 and second.rows_added == 0  # merged, not duplicated
    assert second.stats.deliveries_read == 1 + sum(1 for m in spread(100, T0, t1 - DAY_S) if m["created"] >= t1 - 7 * DAY_S)
    assert query(warehouse.path, "select count(*), count(distinct id) from raw_customerio_api.messages") == [(102, 102)]
    assert query(warehouse.path, "select metrics__clicked from raw_customerio_api.messages where id = 'd-001001'") == [(click,)]
    run_cli(warehouse.path, "build", "--as-of", "2026-10-22T00:00:00Z")
    assert query(warehouse.path, """
        select was_human_clicked, first_human_clicked_at = make_timestamp(cast(? as bigint) * 1000000), event_sources
        from marts.fct_message_deliveries where delivery_id = 'd-001001'""", [click]) == [(True, True, "app_api")]
    # the ancient delivery was outside the window: its click waits for a wider re-read (--since)
    assert query(warehouse.path, "select was_clicked from marts.fct_message_deliveries where delivery_id = 'd-001002'") == [(False,)]
    assert query(warehouse.path, """
        select count(*), count(distinct event_id) from marts.fct_message_events where delivery_id = 'd-001001'""") == [(4, 4)]
    # the incremental builds (staging, app_api events, facts) equal a rebuild from scratch
    snapshot = ["select event_id, metric, occurred_at, is_human_click, is_human_open from marts.fct_message_events order by 1",
                "select * exclude (last_loaded_at) from marts.fct_message_deliveries order by delivery_id",
                "select * exclude (last_loaded_at) from marts.fct_message_metrics_daily order by all",
                "select * exclude (last_loaded_at) from intermediate.int_messaging__delivery_days order by all",
                "select * exclude (state_built_at) from intermediate.int_cohorts__members order by all",
                "select * exclude (last_loaded_at) from intermediate.int_identity__people_observed order by all",
                "select * from marts.xref_user_identity order by all"]
    incremental = [query(warehouse.path, sql) for sql in snapshot]
    run_cli(warehouse.path, "build", "--as-of", "2026-10-22T00:00:00Z", "--full-refresh")
    assert [query(warehouse.path, sql) for sql in snapshot] == incremental


def test_a_name_loaded_after_the_clicks_moves_the_clickers_into_the_intent_cohort(tmp_path):
    """Campaign 7 has no intent until its name arrives (metadata loaded after its deliveries):
    the next build, with no new event, puts its clickers into cart_intent_clickers, as a
    rebuild from scratch does (the cohort states hash each signal's intent)."""
    end = T0 + 20 * DAY_S  # as_of 2026-10-21: the clicks are within the day before it
    clicks = [message(i, end - DAY_S + i * 600, metrics={
        "created": end - DAY_S + i * 600, "sent": end - DAY_S + i * 600, "delivered": end - DAY_S + i * 600 + 5,
        "clicked": end - DAY_S + i * 600 + 60, "human_clicked": end - DAY_S + i * 600 + 60}) for i in range(4)]
    unclicked = [message(i, T0 + i * DAY_S) for i in range(10, 16)]
    members = ("select person_key from intermediate.int_cohorts__members "
               "where cohort_name = 'cart_intent_clickers' order by 1")
    fake = FakeCustomerIo(Workspace(messages=clicks + unclicked), api_key=KEY)
    with fake:
        warehouse, _ = _load(tmp_path, fake, resources=["messages"], since=T0, until=end)
        run_cli(warehouse.path, "build", "--as-of", "2026-10-21T00:00:00Z")
        clickers = query(warehouse.path, "select distinct person_key from marts.fct_message_events "
                                         "where is_human_click order by 1")
        assert len(clickers) == 4 and query(warehouse.path, members) == []  # no name, no intent
        fake.load(Workspace(
            messages=clicks + unclicked,
            campaigns=[{"id": 7, "name": "Abandoned cart reminder", "type": "segment", "created": T0,
                        "updated": T0, "active": True, "state": "running"}],
            campaign_actions={7: [{"id": 42, "campaign_id": 7, "name": "Cart email", "type": "email",
                                   "subject": "Still thinking?", "created": T0, "updated": T0}]}))
        _load(tmp_path, fake, resources=["campaigns", "campaign_actions"], until=end)
    run_cli(warehouse.path, "build", "--as-of", "2026-10-21T00:00:00Z")
    assert query(warehouse.path, members) == clickers
    assert query(warehouse.path, "select intent from marts.dim_message_intents where parent_id = '7'") == [("cart",)]
    snapshot = ["select * exclude (state_built_at) from intermediate.int_cohorts__members order by all",
                "select * exclude (computed_at) from marts.cohort_membership order by all"]
    incremental = [query(warehouse.path, sql) for sql in snapshot]
    run_cli(warehouse.path, "build", "--as-of", "2026-10-21T00:00:00Z", "--full-refresh")
    assert [query(warehouse.path, sql) for sql in snapshot] == incremental


# ---------------------------------------------------------------- quirks, quarantine, models
@pytest.fixture(scope="module")
def quirks_warehouse(tmp_path_factory) -> Path:
    """Hand-made deliveries with Customer.io's quirks, loaded and built once."""
    tmp = tmp_path_factory.mktemp("quirks")
    base = T0 + DAY_S
    messages = [
        # SMS is `twilio`; the old template key; a digits-only cio_id (served as an integer)
        message(1, base, type="twilio", recipient="+14155550100", subject=None, msg_template_id=None,
                message_template_id=51, customer_identifiers={"id": "cust-1", "email": None, "cio_id": "3000001"},
                customer_id="cust-1", campaign_id=None, action_id=2021, broadcast_id=202,
                metrics={"created": base, "sent": base, "delivered": base + 9, "clicked": base + 600}),
        # email with the human/machine split: machine open and click first, then a human open
        message(2, base, metrics={"created": base, "sent": base, "delivered": base + 2, "opened": base + 5,
                                  "prefetch_opened": base + 5, "human_opened": base + 7200, "clicked": base + 6,
                                  "prefetch_clicked": base + 6}),
        # a bounced newsletter variant for an email-only person (customer_id null)
        message(3, base, customer_id=None, customer_identifiers={"id": None, "email": "Only@Example.com", "cio_id": "c9"},
                campaign_id=None, action_id=None, newsletter_id=10, content_id=101,
                failure_message="550 5.1.1 no such user", metrics={"created": base, "sent": base, "bounced": base + 3}),
        # unusable: no id; `created` as text
        {k: v for k, v in message(4, base).items() if k != "id"},
        {**message(5, base), "created": "2026-10-02T00:00:00Z"},
    ]
    workspace = Workspace(
        messages=messages,
        campaigns=[{"id": 7, "name": "Welcome series", "type": "segment", "created": T0, "updated": T0,
                    "active": True, "state": "running"}],
        campaign_actions={7: [{"id": 42, "campaign_id": 7, "name": "Welcome email", "type": "email",
                               "subject": "Hello", "created": T0, "updated": T0}]},
        broadcasts=[{"id": 202, "name": "Flash sale (SMS)", "created": T0, "updated": T0}],
        broadcast_actions={202: [{"id": 2021, "name": "Flash sale SMS", "type": "twilio"}]},
        newsletters=[{"id": 10, "name": "October news", "sent_at": base, "created": T0, "updated": T0}],
        newsletter_contents={10: [{"id": 101, "name": None, "subject": "Our October picks", "type": "email"}]},
        transactional=[{"id": 301, "name": "Order confirmation", "created_at": T0, "updated_at": T0}],
    )
    with FakeCustomerIo(workspace, api_key=KEY) as fake:
        warehouse, result = _load(tmp, fake, since=T0, until=T0 + 5 * DAY_S)
        wire = fake.requests
    assert result.stats.quarantined == 2 and [r.status for r in wire].count(200) == len(wire)
    run_cli(warehouse.path, "build", "--as-of", "2026-10-03T00:00:00Z")  # a day after the data: fresh
    return warehouse.path


def test_unusable_messages_are_quarantined_with_their_reason(quirks_warehouse):
    rows = query(quirks_warehouse, "select reason, raw from raw_customerio_api.messages_quarantine order by reason")
    assert [r for r, _ in rows] == ["created is not an integer of unix seconds (got str)", "missing id"]
    assert '"d-000005"' in rows[0][1]
    assert query(quirks_warehouse, "select id from raw_customerio_api.messages order by id") == [
        ("d-000001",), ("d-000002",), ("d-000003",)]
    assert query(quirks_warehouse, "select count(*) from raw_customerio_api.messages where _loaded_at is null") == [(0,)]


def test_twilio_template_keys_and_integer_cio_id(quirks_warehouse):
    assert query(quirks_warehouse, """
        select delivery_id, message_type, channel, template_id, cio_id, customer_id, email, parent_type, parent_id
        from staging.stg_customerio_api__messages order by 1""") == [
        ("d-000001", "twilio", "sms", "51", "3000001", "cust-1", None, "broadcast", "202"),
        ("d-000002", "email", "email", "42", "c00002", "cust-002", "p2@example.com", "campaign", "7"),
        ("d-000003", "email", "email", "42", "c9", None, "only@example.com", "newsletter", "10"),
    ]
    assert query(quirks_warehouse, """
        select distinct object_type, person_key from marts.fct_message_events where delivery_id = 'd-000001'""") == [
        ("sms", "cio:3000001")]


def test_metric_times_become_events_with_human_and_machine_kept_apart(quirks_warehouse):
    assert query(quirks_warehouse, """
        select event_id, metric, is_human_open, is_human_click, is_machine, is_prefetched
        from marts.fct_message_events order by event_id""") == [
        ("api:d-000001:clicked", "clicked", False, True, False, False),
        ("api:d-000001:delivered", "delivered", False, False, False, False),
        ("api:d-000001:sent", "sent", False, False, False, False),
        ("api:d-000002:clicked:prefetch", "clicked", False, False, True, False),
        ("api:d-000002:delivered", "delivered", False, False, False, False),
        ("api:d-000002:opened:human", "opened", True, False, False, False),
        ("api:d-000002:opened:prefetch", "opened", False, False, False, True),
        ("api:d-000002:sent", "sent", False, False, False, False),
        ("api:d-000003:bounced", "bounced", False, False, False, False),
        ("api:d-000003:sent", "sent", False, False, False, False),
    ]
    assert query(quirks_warehouse, """
        select event_id, failure_message from intermediate.int_customerio_api__message_events
        where failure_message is not null""") == [("api:d-000003:bounced", "550 5.1.1 no such user")]
    assert query(quirks_warehouse, """
        select delivery_id, was_human_opened, was_clicked, was_human_clicked, was_bounced, event_sources
        from marts.fct_message_deliveries order by 1""") == [
        ("d-000001", False, True, True, False, "app_api"),
        ("d-000002", True, True, False, False, "app_api"),
        ("d-000003", False, False, False, True, "app_api"),
    ]


def test_names_come_from_the_metadata(quirks_warehouse):
    assert query(quirks_warehouse, """
        select parent_type, parent_id, action_id, content_id, channel, parent_name, message_name, deliveries
        from marts.dim_messages order by parent_type""") == [
        ("broadcast", "202", "2021", None, "sms", "Flash sale (SMS)", "Flash sale SMS", 1),
        ("campaign", "7", "42", None, "email", "Welcome series", "Welcome email", 1),
        ("newsletter", "10", None, "101", "email", "October news", "Our October picks", 1),  # unnamed variant: subject
    ]
    assert query(quirks_warehouse, "select campaign_id, campaign_name, actions, deliveries from marts.dim_campaigns") == [
        ("7", "Welcome series", 1, 1)]
    assert query(quirks_warehouse, "select newsletter_id, variants, deliveries from marts.dim_newsletters") == [("10", 1, 1)]
    assert query(quirks_warehouse, "select broadcast_id, actions, deliveries from marts.dim_broadcasts") == [("202", 1, 1)]
    assert query(quirks_warehouse, """
        select transactional_message_id, transactional_message_name, deliveries
        from marts.dim_transactional_messages""") == [("301", "Order confirmation", 0)]


def test_a_fact_reported_by_webhooks_and_the_api_counts_once(quirks_warehouse, tmp_path):
    """The App API's click on d-000001 and a webhook of the same click: only the webhook's is kept."""
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(quirks_warehouse, warehouse)
    hook = tmp_path / "hooks" / "events.jsonl"
    hook.parent.mkdir()
    hook.write_text(
        '{"event_id":"01HW0000000000000000000001","object_type":"sms","metric":"clicked","timestamp":%d,'
        '"data":{"broadcast_id":202,"action_id":2021,"delivery_id":"d-000001","identifiers":{"id":"cust-1",'
        '"email":null,"cio_id":"3000001"},"recipient":"+14155550100","href":"https://x.test","link_id":1}}\n'
        % (T0 + DAY_S + 600))
    run_cli(warehouse, "load", "webhooks", str(hook))
    run_cli(warehouse, "build", "--as-of", "2026-10-03T00:00:00Z")  # a day after the data: fresh
    assert query(warehouse, """
        select event_id, event_source from marts.fct_message_events
        where delivery_id = 'd-000001' and metric = 'clicked'""") == [("01HW0000000000000000000001", "webhook")]
    assert query(warehouse, """
        select human_click_count, event_sources from marts.fct_message_deliveries where delivery_id = 'd-000001'""") == [
        (1, "app_api, webhook")]


def test_cli_load_api_prints_progress_summary_and_records_the_run(tmp_path):
    with FakeCustomerIo(Workspace(messages=spread(1200, T0, T0 + DAY_S),
                                  campaigns=[{"id": 7, "name": "Welcome"}], campaign_actions={7: []}),
                        api_key=KEY) as fake:
        proc = run_cli(tmp_path / "w.duckdb", "load", "api", "--since", "2026-10-01", "--until", "2026-10-03",
                       "--resources", "messages,campaigns,campaign_actions",
                       env={"CUSTOMERIO_APP_API_KEY": KEY, "CUSTOMERIO_API_URL": fake.url})
    assert "api: 5 requests in" in proc.stdout  # 2 for names, 3 windows of deliveries side by side and "0 throttled, 0 retried" in proc.stdout
    assert ("1,200 deliveries read in 3 pages (created 2026-10-01T00:00:00Z .. 2026-10-03T00:00:00Z), "
            "1,200 new (1,200 in raw_customerio_api.messages)") in proc.stdout
    assert "names: 1 campaigns, 0 campaign_actions; 0 quarantined" in proc.stdout
    (loaded,), = query(tmp_path / "w.duckdb", "select loaded from msgmetrics_ledger.runs where command = 'load api'")
    assert '"raw_customerio_api.messages": {"rows_added": 1200' in loaded
    assert KEY not in proc.stdout + proc.stderr


def test_a_load_waiting_behind_a_build_stamps_its_rows_after_that_build(tmp_path):
    """The rows' _loaded_at is taken once the load holds the writer lock: stamped when the source
    was made, they would be older than a build that ran meanwhile, below its incremental models'
    watermark, and never reach the marts."""
    fake = FakeCustomerIo(Workspace(messages=spread(30, T0, T0 + DAY_S),
                                    campaigns=[{"id": 7, "name": "Welcome"}], campaign_actions={7: []}), api_key=KEY)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with fake, ThreadPoolExecutor(1) as pool:
        with writer_lock(warehouse, "a build"):
            loading = pool.submit(_load, tmp_path, fake, resources=["messages", "campaigns"], since=T0, until=T0 + 2 * DAY_S)
            time.sleep(0.5)  # the load has made its source and waits for the lock
            released = datetime.now(timezone.utc)
        loading.result(timeout=120)
    assert query(warehouse.path, """
        select count(*), bool_and(_loaded_at > ?::timestamptz) from (
            select _loaded_at from raw_customerio_api.messages
            union all select _loaded_at from raw_customerio_api.campaigns)""", [released.isoformat()]) == [(31, True)]


def test_unknown_resource_is_a_usage_error(tmp_path):
    proc = run_cli(tmp_path / "w.duckdb", "load", "api", "--resources", "messages,segments", check=False,
                   env={"CUSTOMERIO_APP_API_KEY": KEY})
    assert proc.returncode == 2 and "unknown resource 'segments'" in proc.stderr


def test_activities_are_optional(tmp_path):
    workspace = Workspace(activities=[{"id": f"01A{i:023d}", "type": "attribute_change", "timestamp": T0 + i,
                                       "customer_id": "cust-1", "data": {"unsubscribed": {"from": False, "to": True}}}
                                      for i in range(150)])
    with FakeCustomerIo(workspace, api_key=KEY) as fake:
        warehouse, _ = _load(tmp_path, fake, resources=["activities"])
    assert [r.items for r in fake.requests] == [100, 50]
    assert query(warehouse.path, "select count(distinct id) from raw_customerio_api.activities") == [(150,)]
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        assert "messages" not in {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_customerio_api'").fetchall()}
    finally:
        con.close()
