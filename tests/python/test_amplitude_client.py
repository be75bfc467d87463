"""AmplitudeClient against the strict fake server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
import time
from decimal import Decimal

import numpy as np
import pytest

from msgmetrics.amplitude import (
    AmplitudeAuthError,
    AmplitudeClient,
    AmplitudeConfig,
    AmplitudeConfigError,
    AmplitudeForbiddenError,
    AmplitudeUnavailableError,
    event_time_ms,
    to_json_safe,
)
from msgmetrics.amplitude.fake_server import FakeAmplitude

KEY = "test-key-0123456789abcdef"
T0 = 1_700_000_000_000
HTTPAPI = "/2/httpapi"


class Sink:
    def __init__(self):
        self.accepted: list[list[dict]] = []
        self.rejected: list[tuple[list[dict], str]] = []

    def on_accepted(self, records):
        self.accepted.append(list(records))

    def on_rejected(self, records, reason):
        self.rejected.append((list(records), reason))

    @property
    def accepted_ids(self):
        return [r["insert_id"] for batch in self.accepted for r in batch]

    @property
    def rejected_ids(self):
        return [r["insert_id"] for batch, _ in self.rejected for r in batch]


def ev(i, user=None, **extra):
    event = {
        "event_type": "email_opened",
        "user_id": user or f"cust-{i:05d}",
        "insert_id": f"delivery-{i:05d}-opened",
        "time": T0 + i,
        "event_properties": {"campaign_id": 7, "channel": "email"},
    }
    event.update(extra)
    return event


@pytest.fixture
def fake():
    with FakeAmplitude(api_key=KEY) as server:
        yield server


def make_client(fake, **overrides):
    # One request at a time unless a test says otherwise: these tests pin the exact order of the
    # requests the fake sees, which only exists with one request in flight. Concurrent sending has
    # its own tests below (and the push tests run at the default concurrency).
    settings = dict(api_key=KEY, ingest_url=fake.url, timeout_s=2.0, max_retry_seconds=5.0,
                    backoff_base_s=0.01, backoff_max_s=0.02, throttle_hold_s=0.2, concurrency=1)
    settings.update(overrides)
    return AmplitudeClient(AmplitudeConfig(**settings), rng=random.Random(7))


def send(client, events):
    sink = Sink()
    report = client.send_events(events, sink.on_accepted, sink.on_rejected)
    return sink, report


# -- payload shape and chunking -------------------------------------------------


def test_payload_stored_as_sent_with_options_in_every_request(fake):
    events = [ev(i, user=f"c{i:03d}") for i in range(4001)]  # 4-char ids need min_id_length
    sink, report = send(make_client(fake, min_id_length=3), events)
    assert fake.requests == [(HTTPAPI, 200, 2000), (HTTPAPI, 200, 2000), (HTTPAPI, 200, 1)]
    assert [r.options for r in fake.request_records] == [{"min_id_length": 3}] * 3
    assert fake.events == events
    assert sink.accepted_ids == [e["insert_id"] for e in events] and sink.rejected == []
    assert (report.sent_requests, report.accepted_events, report.events_ingested) == (3, 4001, 4001)


def test_no_options_without_min_id_length_and_short_ids_rejected(fake):
    sink, _ = send(make_client(fake), [ev(1), ev(2, user="c002")])
    assert [r.options for r in fake.request_records] == [None, None]
    assert sink.rejected_ids == ["delivery-00002-opened"]
    assert "invalid id length for user_id" in sink.rejected[0][1]
    assert [e["insert_id"] for e in fake.events] == ["delivery-00001-opened"]


def test_gzip_for_big_bodies_only(fake):
    send(make_client(fake), [ev(i) for i in range(2001)])
    first, last = fake.request_records
    assert first.gzipped and first.body_bytes > 64 * 1024
    assert not last.gzipped and last.body_bytes < 64 * 1024
    assert fake.event_count == 2001


def test_chunking_at_one_megabyte_is_tight(fake):
    events = [ev(i, event_properties={"body": "x" * 10_000}) for i in range(300)]
    size = len(json.dumps(events[0], separators=(",", ":")).encode())
    sink, report = send(make_client(fake), events)
    records = fake.request_records
    assert all(r.status == 200 and r.body_bytes <= 1_000_000 for r in records)
    assert all(r.gzipped == (r.body_bytes > 64 * 1024) for r in records)
    for r in records[:-1]:  # greedy: the next event would not have fit
        assert r.body_bytes + 1 + size > 1_000_000
    per_request = records[0].n_events
    assert 90 < per_request < 100
    assert [r.n_events for r in records] == [per_request] * (300 // per_request) + [300 % per_request]
    assert fake.event_count == 300 and report.accepted_events == 300


# -- 413 ------------------------------------------------------------------------------


def test_413_splits_in_half_and_stores_every_event_once():
    events = [ev(i) for i in range(8)]
    with FakeAmplitude(api_key=KEY, faults=["413", None, "413"]) as fake:
        sink, report = send(make_client(fake), events)
        assert fake.requests == [(HTTPAPI, 413, 8), (HTTPAPI, 200, 4), (HTTPAPI, 413, 4),
                                 (HTTPAPI, 200, 2), (HTTPAPI, 200, 2)]
        assert sorted(e["insert_id"] for e in fake.events) == [e["insert_id"] for e in events]
        assert fake.duplicates_dropped == 0
    assert report.splits == 2 and sink.rejected == []
    assert sink.accepted_ids == [e["insert_id"] for e in events]


def test_single_event_still_413_is_rejected():
    with FakeAmplitude(api_key=KEY, faults=["413"]) as fake:
        sink, report = send(make_client(fake), [ev(1)])
        assert fake.event_count == 0
    assert sink.rejected_ids == ["delivery-00001-opened"] and "413" in sink.rejected[0][1]
    assert report.rejected_events == 1


def test_event_over_one_megabyte_is_rejected_without_sending(fake):
    sink, _ = send(make_client(fake), [ev(1, event_properties={"body": "x" * 1_100_000}), ev(2)])
    assert sink.rejected_ids == ["delivery-00001-opened"] and "too large" in sink.rejected[0][1]
    assert fake.requests == [(HTTPAPI, 200, 1)]


# -- 400 ------------------------------------------------------------------------------


def test_400_indexes_rejects_exactly_the_listed_events(fake):
    events = [ev(i) for i in range(10)]
    events[2]["user_id"] = "null"
    events[5]["time"] = 1.7e12
    events[7]["user_id"] = "abc"
    del events[8]["event_type"]
    sink, report = send(make_client(fake), events)
    bad = {events[i]["insert_id"] for i in (2, 5, 7, 8)}
    assert set(sink.rejected_ids) == bad and report.rejected_events == 4
    reasons = " | ".join(reason for _, reason in sink.rejected)
    for text in ("invalid field user_id", "invalid field time", "invalid id length for user_id",
                 "missing field event_type"):
        assert text in reasons
    assert fake.requests == [(HTTPAPI, 400, 10), (HTTPAPI, 200, 6)]
    assert {e["insert_id"] for e in fake.events} == {e["insert_id"] for e in events} - bad


def test_400_without_indexes_rejects_the_whole_request(fake):
    sink, _ = send(make_client(fake), [ev(1), ["not", "an", "event"]])
    assert len(sink.rejected) == 1 and len(sink.rejected[0][0]) == 2
    assert "Invalid event JSON" in sink.rejected[0][1]
    assert fake.event_count == 0 and sink.accepted == []


def test_values_that_are_not_json_are_rejected_locally(fake):
    sink, _ = send(make_client(fake), [ev(1, event_properties={"amount": Decimal("1.5")}),
                                       ev(2, event_properties={"score": math.nan}), ev(3)])
    assert sink.rejected_ids == ["delivery-00001-opened", "delivery-00002-opened"]
    assert all("not JSON-serialisable" in reason for _, reason in sink.rejected)
    assert fake.requests == [(HTTPAPI, 200, 1)]


# -- 429 ------------------------------------------------------------------------------


def test_429_holds_only_the_throttled_user_and_sends_the_rest_first():
    events = [ev(i, user=u) for i, u in enumerate(["user-aaaa", "user-bbbb", "user-cccc", "user-dddd"])]
    with FakeAmplitude(api_key=KEY, faults=["429"]) as fake:
        started = time.monotonic()
        sink, report = send(make_client(fake), events)
        elapsed = time.monotonic() - started
        assert fake.requests == [(HTTPAPI, 429, 4), (HTTPAPI, 200, 3), (HTTPAPI, 200, 1)]
        assert fake.event_count == 4 and fake.duplicates_dropped == 0
    assert [[e["user_id"] for e in batch] for batch in sink.accepted] == [
        ["user-bbbb", "user-cccc", "user-dddd"], ["user-aaaa"]]
    assert report.throttled_holds == 1 and elapsed >= 0.2


def test_per_user_throttle_holds_excess_events_and_keeps_user_order():
    users = ["heavy-user", "light-0", "heavy-user", "light-1", "heavy-user", "light-2",
             "heavy-user", "light-3", "heavy-user", "light-4", "light-5"]
    events = [ev(i, user=u) for i, u in enumerate(users)]
    with FakeAmplitude(api_key=KEY, max_events_per_user_per_request=2) as fake:
        sink, report = send(make_client(fake), events)
        assert fake.requests == [(HTTPAPI, 429, 11), (HTTPAPI, 200, 8), (HTTPAPI, 429, 3),
                                 (HTTPAPI, 200, 2), (HTTPAPI, 200, 1)]
        heavy_stored = [e["time"] for e in fake.events if e["user_id"] == "heavy-user"]
        assert heavy_stored == sorted(heavy_stored) and len(heavy_stored) == 5
        assert fake.event_count == 11
    first = sink.accepted[0]
    assert {e["user_id"] for e in first} == {"heavy-user"} | {f"light-{i}" for i in range(6)}
    assert [e["user_id"] for batch in sink.accepted[1:] for e in batch] == ["heavy-user"] * 3
    assert report.throttled_holds == 4


def test_429_hold_also_delays_the_users_later_events_in_order():
    events = [ev(i) for i in range(2003)]
    for i in (0, 2001):
        events[i]["user_id"] = "throttled-user"
    with FakeAmplitude(api_key=KEY, faults=["429"]) as fake:
        sink, _ = send(make_client(fake), events)
        assert fake.requests == [(HTTPAPI, 429, 2000), (HTTPAPI, 200, 1999), (HTTPAPI, 200, 2),
                                 (HTTPAPI, 200, 2)]
        assert fake.event_count == 2003
    assert [e["insert_id"] for e in sink.accepted[-1]] == ["delivery-00000-opened", "delivery-02001-opened"]


def test_daily_quota_in_429_rejects_those_events(fake, monkeypatch):
    def quota_reply(fault, records):
        return 429, {"code": 429, "error": "Too many requests for some devices and users",
                     "exceeded_daily_quota_users": {"cust-00001": 500001}, "throttled_events": [1]}
    monkeypatch.setattr(fake, "_fault_reply", quota_reply)
    fake.add_faults("429")
    sink, _ = send(make_client(fake), [ev(0), ev(1), ev(2)])
    assert sink.rejected_ids == ["delivery-00001-opened"] and "daily quota" in sink.rejected[0][1]
    assert fake.requests == [(HTTPAPI, 429, 3), (HTTPAPI, 200, 2)]


# -- 5xx, timeouts, retry budget ---------------------------------------------------


def test_500_retried_with_the_same_insert_ids():
    events = [ev(i) for i in range(5)]
    with FakeAmplitude(api_key=KEY, faults=["500", "500"]) as fake:
        sink, report = send(make_client(fake), events)
        records = fake.request_records
        assert [r.status for r in records] == [500, 500, 200]
        assert records[0].insert_ids == records[1].insert_ids == records[2].insert_ids
        assert fake.event_count == 5
    assert report.retries == 2 and report.sent_requests == 3 and len(sink.accepted) == 1


def test_ingest_then_500_leaves_exactly_one_copy():
    events = [ev(i) for i in range(5)]
    with FakeAmplitude(api_key=KEY, faults=["ingest_then_500"]) as fake:
        sink, _ = send(make_client(fake), events)
        assert fake.requests == [(HTTPAPI, 500, 5), (HTTPAPI, 200, 5)]
        assert fake.event_count == 5 and fake.distinct_insert_ids == 5
        assert fake.duplicates_dropped == 5
    assert sink.accepted_ids == [e["insert_id"] for e in events]


def test_503_is_retried():
    with FakeAmplitude(api_key=KEY, faults=["503"]) as fake:
        _, report = send(make_client(fake), [ev(1)])
        assert fake.requests == [(HTTPAPI, 503, 1), (HTTPAPI, 200, 1)]
    assert report.retries == 1


def test_timeout_retried_with_the_same_insert_ids():
    events = [ev(i) for i in range(3)]
    with FakeAmplitude(api_key=KEY, faults=["timeout"], timeout_sleep_s=1.0) as fake:
        sink, report = send(make_client(fake, timeout_s=0.3), events)
        assert fake.event_count == 3 and report.retries == 1
        deadline = time.monotonic() + 3
        while len(fake.request_records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the timed-out request is logged once the fake stops sleeping
        records = fake.request_records
        assert sorted(r.status for r in records) == [200, 504]
        assert records[0].insert_ids == records[1].insert_ids == [e["insert_id"] for e in events]
    assert len(sink.accepted) == 1


def test_retry_budget_ends_in_unavailable_and_keeps_earlier_acceptances():
    events = [ev(i) for i in range(2001)]
    with FakeAmplitude(api_key=KEY, faults=[None] + ["503"] * 500) as fake:
        sink = Sink()
        client = make_client(fake, max_retry_seconds=0.3)
        with pytest.raises(AmplitudeUnavailableError) as err:
            client.send_events(events, sink.on_accepted, sink.on_rejected)
        assert fake.event_count == 2000
    assert "HTTP 503" in str(err.value) and err.value.report.accepted_events == 2000
    assert len(sink.accepted) == 1 and len(sink.accepted[0]) == 2000 and sink.rejected == []


def test_backoff_is_full_jitter_capped_and_budget_counts_minutes():
    class Clock:
        now = 0.0
        sleeps: list[float] = []

        def sleep(self, seconds):
            self.sleeps.append(seconds)
            self.now += seconds

    clock = Clock()
    with FakeAmplitude(api_key=KEY, faults=["503"] * 2000) as fake:
        client = AmplitudeClient(AmplitudeConfig(api_key=KEY, ingest_url=fake.url),
                                 sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(3))
        with pytest.raises(AmplitudeUnavailableError) as err:
            client.send_events([ev(1)], lambda r: None, lambda r, why: None)
        assert len(fake.requests) == len(clock.sleeps) + 1
    assert all(s <= min(60.0, 2.0 ** k) for k, s in enumerate(clock.sleeps))
    assert sum(clock.sleeps) == pytest.approx(600.0)
    assert len({round(s, 3) for s in clock.sleeps}) > 5
    assert err.value.report.retries == len(clock.sleeps)


# -- fatal errors ----------------------------------------------------------------------


def test_invalid_key_raises_without_leaking_it(caplog):
    wrong = "wrong-key-9999-abcdefghij"
    with FakeAmplitude(api_key=KEY) as fake:
        sink = Sink()
        client = make_client(fake, api_key=wrong)
        with caplog.at_level(logging.DEBUG), pytest.raises(AmplitudeAuthError) as err:
            client.send_events([ev(i) for i in range(3)], sink.on_accepted, sink.on_rejected)
        assert fake.requests == [(HTTPAPI, 400, 3)] and fake.event_count == 0
    message = str(err.value)
    assert wrong not in message and wrong not in caplog.text and wrong not in repr(client)
    assert "AMPLITUDE_REGION" in message and "EU" in message and "127.0.0.1" in message
    assert sink.accepted == [] and sink.rejected == []


def test_invalid_key_mid_run_stops_sending():
    with FakeAmplitude(api_key=KEY, faults=[None, "invalid_key"]) as fake:
        sink = Sink()
        with pytest.raises(AmplitudeAuthError) as err:
            make_client(fake).send_events([ev(i) for i in range(4001)], sink.on_accepted, sink.on_rejected)
        assert fake.requests == [(HTTPAPI, 200, 2000), (HTTPAPI, 400, 2000)]
    assert err.value.report.accepted_events == 2000 and len(sink.accepted) == 1


def test_403_is_fatal():
    with FakeAmplitude(api_key=KEY, faults=["403"]) as fake:
        sink = Sink()
        with pytest.raises(AmplitudeForbiddenError, match="403"):
            make_client(fake).send_events([ev(i) for i in range(4001)], sink.on_accepted, sink.on_rejected)
        assert fake.requests == [(HTTPAPI, 403, 2000)]
    assert sink.accepted == []


# -- identify --------------------------------------------------------------------------


def identify(client, identifications):
    sink = Sink()
    report = client.identify(identifications, sink.on_accepted, sink.on_rejected)
    return sink, report


def test_identify_sets_and_unsets_properties(fake):
    client = make_client(fake)
    identify(client, [
        {"user_id": "cust-00042", "user_properties": {"$set": {"cio_cohort_high_intent_engagers": True,
                                                               "cio_vip": True}}},
        {"user_id": "cust-00043", "user_properties": {"$set": {"cio_vip": False}}},
    ])
    sink, report = identify(client, [
        {"user_id": "cust-00042", "user_properties": {"$unset": {"cio_vip": "-"}}},
    ])
    assert fake.user_properties == {"cust-00042": {"cio_cohort_high_intent_engagers": True},
                                    "cust-00043": {"cio_vip": False}}
    assert len(fake.identifications) == 3 and report.accepted_events == 1
    assert fake.requests == [("/identify", 200, 2), ("/identify", 200, 1)]


def test_identify_chunks_at_1000_and_one_megabyte(fake):
    idents = [{"user_id": f"cust-{i:05d}", "user_properties": {"$set": {"flag": True}}} for i in range(2500)]
    identify(make_client(fake), idents)
    assert fake.requests == [("/identify", 200, 1000), ("/identify", 200, 1000), ("/identify", 200, 500)]
    fake.reset()
    big = [{"user_id": f"cust-{i:05d}", "user_properties": {"$set": {"note": "é&=" * 300}}} for i in range(400)]
    sink, _ = identify(make_client(fake), big)
    records = fake.request_records
    assert len(records) > 1 and all(r.status == 200 and r.body_bytes <= 1_000_000 for r in records)
    assert sum(r.n_events for r in records) == 400 and sink.rejected == []


def test_identify_429_hold_and_invalid_key():
    with FakeAmplitude(api_key=KEY, faults=["429"]) as fake:
        sink, report = identify(make_client(fake), [
            {"user_id": "cust-00001", "user_properties": {"$set": {"a": 1}}},
            {"user_id": "cust-00002", "user_properties": {"$set": {"a": 2}}},
        ])
        assert fake.requests == [("/identify", 429, 2), ("/identify", 200, 1), ("/identify", 200, 1)]
        assert [b[0]["user_id"] for b in sink.accepted] == ["cust-00002", "cust-00001"]
        with pytest.raises(AmplitudeAuthError):
            identify(make_client(fake, api_key="another-wrong-key"), [{"user_id": "cust-00003"}])


# -- config ------------------------------------------------------------------------------


def test_from_env_selects_host_and_masks_key():
    us = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY})
    eu = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_REGION": "EU"})
    override = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_REGION": "eu",
                                         "AMPLITUDE_INGEST_URL": "http://127.0.0.1:8765/",
                                         "AMPLITUDE_MIN_ID_LENGTH": "3"})
    assert us.base_url == "https://api2.amplitude.com" and us.min_id_length is None
    assert eu.base_url == "https://api.eu.amplitude.com"
    assert override.base_url == "http://127.0.0.1:8765" and override.min_id_length == 3
    for cfg in (us, eu, override):
        assert KEY not in repr(cfg) and KEY not in str(cfg) and "****" in repr(cfg)
    assert us.max_retry_seconds == 600 and us.timeout_s == 30 and us.throttle_hold_s == 30


def test_from_env_reads_secret_key_and_rest_host_without_showing_the_secret():
    secret = "s3cr3t-abcdefghijklmnop"
    us = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": secret})
    eu = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_REGION": "eu"})
    proxied = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_API_URL": "http://127.0.0.1:9000/"})
    assert us.secret_key == secret and eu.secret_key is None
    assert (us.rest_url, eu.rest_url, proxied.rest_url) == (
        "https://amplitude.com", "https://analytics.eu.amplitude.com", "http://127.0.0.1:9000")
    assert secret not in repr(us) and secret not in str(us)


def test_from_env_errors_name_the_variable():
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_API_KEY"):
        AmplitudeConfig.from_env({})
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_REGION"):
        AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_REGION": "apac"})
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_MIN_ID_LENGTH"):
        AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_MIN_ID_LENGTH": "three"})


# -- jsonsafe ------------------------------------------------------------------------------


def test_to_json_safe_coercions():
    value = {
        "dec": Decimal("1.50"), "dec_int": Decimal("3"), "dec_nan": Decimal("NaN"),
        "aware": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "naive": dt.datetime(2024, 5, 1, 12, 30), "day": dt.date(2024, 5, 1),
        "np_int": np.int64(42), "np_float": np.float32(0.5), "np_bool": np.bool_(True),
        "np_nan": np.float64("nan"), "inf": float("inf"), "nan": math.nan,
        "long": "y" * 2000, "raw": b"caf\xc3\xa9", "tags": {"b", "a"}, "pair": (1, 2),
        "nested": {1: [Decimal("2.25"), np.array([1, 2])]}, "when": np.datetime64("2024-05-01T12:30:00"),
    }
    out = to_json_safe(value)
    assert out["dec"] == 1.5 and type(out["dec"]) is float
    assert out["dec_int"] == 3 and type(out["dec_int"]) is int and out["dec_nan"] is None
    assert out["aware"] == "2024-05-01T12:30:00+02:00" and out["naive"] == "2024-05-01T12:30:00+00:00"
    assert out["day"] == "2024-05-01"
    assert type(out["np_int"]) is int and out["np_int"] == 42
    assert type(out["np_float"]) is float and out["np_bool"] is True
    assert out["np_nan"] is None and out["inf"] is None and out["nan"] is None
    assert len(out["long"]) == 1024 and out["raw"] == "café"
    assert out["tags"] == ["a", "b"] and out["pair"] == [1, 2]
    assert out["nested"] == {"1": [2.25, [1, 2]]} and out["when"] == "2024-05-01T12:30:00+00:00"
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError):
        to_json_safe(object())


def test_event_time_ms():
    expected = 1_714_566_600_000  # 2024-05-01T12:30:00Z
    assert event_time_ms(dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)) == expected
    assert event_time_ms(dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == expected
    assert event_time_ms(dt.datetime(2024, 5, 1, 12, 30)) == expected
    assert event_time_ms("2024-05-01T12:30:00Z") == expected
    assert event_time_ms(expected // 1000) == expected  # epoch seconds
    assert event_time_ms(expected) == expected  # already milliseconds
    assert event_time_ms(1_714_566_600.123) == expected + 123
    assert event_time_ms(Decimal("1714566600.5")) == expected + 500
    assert event_time_ms(np.int64(expected)) == expected
    assert event_time_ms(np.datetime64("2024-05-01T12:30:00")) == expected
    assert event_time_ms(dt.date(2024, 5, 1)) == expected - (12 * 3600 + 1800) * 1000
    assert type(event_time_ms(1_714_566_600.0)) is int
    with pytest.raises(TypeError):
        event_time_ms(True)


# -- /batch for backfills ----------------------------------------------------------


def test_backfills_go_to_batch_and_increments_to_httpapi(fake):
    client = make_client(fake, batch_threshold=100)
    send(client, [ev(i) for i in range(50)])
    send(client, [ev(i) for i in range(1000, 1250)])
    client.send_events([ev(i) for i in range(2000, 2010)], Sink().on_accepted, Sink().on_rejected, endpoint="batch")
    assert fake.requests == [(HTTPAPI, 200, 50), ("/batch", 200, 250), ("/batch", 200, 10)]
    assert fake.distinct_insert_ids == 310


def test_batch_requests_may_exceed_one_megabyte_but_not_2000_events(fake):
    big = "x" * 900
    events = [ev(i, event_properties={"blob": big}) for i in range(2500)]  # ~2.5 MB in all
    sink, _ = send(make_client(fake, batch_threshold=0), events)
    assert [r[:2] for r in fake.requests] == [("/batch", 200), ("/batch", 200)]
    assert [r[2] for r in fake.requests] == [2000, 500]
    assert len(sink.accepted_ids) == 2500
    fake.reset()
    send(make_client(fake), events[:1500])  # the same events as an increment: 1 MB requests
    assert all(r[0] == HTTPAPI for r in fake.requests) and len(fake.requests) >= 2


def test_events_per_request_and_retry_settings_come_from_the_environment():
    cfg = AmplitudeConfig.from_env({
        "AMPLITUDE_API_KEY": KEY, "AMPLITUDE_EVENTS_PER_REQUEST": "100", "AMPLITUDE_BATCH_THRESHOLD": "5000",
        "AMPLITUDE_THROTTLE_HOLD_S": "15", "AMPLITUDE_MAX_RETRY_SECONDS": "120", "AMPLITUDE_TIMEOUT_S": "5",
    })
    assert (cfg.events_per_request, cfg.batch_threshold, cfg.throttle_hold_s, cfg.max_retry_seconds, cfg.timeout_s) == (
        100, 5000, 15.0, 120.0, 5.0)
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_THROTTLE_HOLD_S"):
        AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_THROTTLE_HOLD_S": "soon"})
    with pytest.raises(AmplitudeConfigError, match="events_per_request"):
        AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_EVENTS_PER_REQUEST": "5000"})


def test_a_429_holds_30_s_on_httpapi_and_15_s_on_batch():
    class Clock:
        now = 0.0

        def sleep(self, seconds):
            self.now += seconds

    held_for = {}
    for endpoint in ("httpapi", "batch"):
        clock = Clock()
        with FakeAmplitude(api_key=KEY, faults=["429"]) as fake:
            client = AmplitudeClient(AmplitudeConfig(api_key=KEY, ingest_url=fake.url),
                                     sleep=clock.sleep, clock=lambda c=clock: c.now, rng=random.Random(1))
            client.send_events([ev(1)], lambda r: None, lambda r, why: None, endpoint=endpoint)
            assert fake.event_count == 1
        held_for[endpoint] = clock.now
    assert held_for == {"httpapi": pytest.approx(30.0, abs=0.5), "batch": pytest.approx(15.0, abs=0.5)}


# -- concurrent requests ------------------------------------------------------------------


def test_concurrent_requests_never_share_a_user_and_store_every_event_once():
    # 120 users, 50 events each, sorted by user as the push sends them: 2000-event chunks end in the
    # middle of a user's run, which the packer moves whole into the next chunk
    events = [ev(u * 50 + k, user=f"user-{u:04d}") for u in range(120) for k in range(50)]
    with FakeAmplitude(api_key=KEY, response_delay_s=0.05) as fake:
        client = make_client(fake, concurrency=4, events_per_request=725)  # 14.5 users per chunk
        sink, report = send(client, events)
        client.close()
        sizes = sorted(n for _, _, n in fake.requests)
        assert fake.event_count == len(events) and fake.duplicates_dropped == 0
        assert 1 < fake.peak_concurrent_requests <= 4
        assert fake.overlapping_requests == 0
    assert sorted(sink.accepted_ids) == sorted(e["insert_id"] for e in events)
    assert all(n % 50 == 0 for n in sizes), sizes  # every chunk holds whole users
    assert report.sent_requests == len(sizes) and report.accepted_events == len(events)


def test_a_user_longer_than_a_chunk_is_sent_in_order_one_request_at_a_time():
    events = [ev(i, user="heavy-user") for i in range(2500)] + [ev(3000 + i) for i in range(3000)]
    with FakeAmplitude(api_key=KEY, response_delay_s=0.02) as fake:
        sink, _ = send(make_client(fake, concurrency=4), events)
        heavy = [e["time"] for e in fake.events if e["user_id"] == "heavy-user"]
        assert fake.overlapping_requests == 0 and fake.event_count == len(events)
    assert heavy == sorted(heavy) and len(heavy) == 2500
    assert sorted(sink.accepted_ids) == sorted(e["insert_id"] for e in events)


def test_a_fatal_error_waits_for_the_requests_in_flight_and_reports_what_they_stored():
    events = [ev(i) for i in range(8000)]  # 16 requests of 500
    # the first request the fake takes is fine, the second says the key is invalid; the ones in
    # flight beside it still finish, and whatever the fake stored is exactly what was reported accepted
    with FakeAmplitude(api_key=KEY, faults=[None, "invalid_key"], response_delay_s=0.2) as fake:
        sink = Sink()
        client = make_client(fake, concurrency=4, events_per_request=500)
        with pytest.raises(AmplitudeAuthError) as err:
            client.send_events(events, sink.on_accepted, sink.on_rejected)
        stored = sorted(e["insert_id"] for e in fake.events)
        sent = len(fake.requests)
    assert sorted(sink.accepted_ids) == stored and len(stored) >= 500
    # Nothing new once the error is seen. The first 4 are answered together after 0.2 s, in any
    # order: each of the 3 fine answers handled before the error may start one more request (the
    # client cannot know yet), and those are answered 0.2 s later, long after the error was
    # handled. So at most 4 + 3; a client that went on would send all 16.
    assert sent <= 4 + 3, sent
    assert err.value.report.accepted_events == len(stored)


def test_client_slows_down_to_the_fakes_per_user_eps_limit():
    # one user, 80 events on /2/httpapi, a fake that allows 30 events/s averaged over 1 s: the
    # client holds the user on each 429 and every event arrives once, in order
    events = [ev(i, user="busy-user") for i in range(80)]
    with FakeAmplitude(api_key=KEY, eps_window_s=1.0) as fake:
        started = time.monotonic()
        sink, report = send(make_client(fake, concurrency=4, throttle_hold_s=0.5), events)
        elapsed = time.monotonic() - started
        stored = [e["time"] for e in fake.events]
        statuses = [s for _, s, _ in fake.requests]
    assert stored == sorted(stored) and len(stored) == 80
    assert statuses.count(429) >= 2 and report.throttled_holds >= 50
    assert elapsed >= 1.0  # 80 events at <= 30 per second-window take two windows at least
    assert sorted(sink.accepted_ids) == sorted(e["insert_id"] for e in events)


def test_concurrency_setting_is_checked_and_read_from_the_environment():
    assert AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": "k" * 20, "AMPLITUDE_CONCURRENCY": "8"}).concurrency == 8
    assert AmplitudeConfig(api_key="k" * 20).concurrency == 4
    for bad in (0, 17, True):
        with pytest.raises(AmplitudeConfigError, match="concurrency"):
            AmplitudeConfig(api_key="k" * 20, concurrency=bad)
