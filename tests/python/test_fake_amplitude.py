"""The fake Amplitude server enforces the documented contract (reference §1-§3)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest
import requests

from msgmetrics.amplitude.fake_server import FakeAmplitude

KEY = "fake-test-key"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def fake():
    with FakeAmplitude(api_key=KEY) as server:
        yield server


def event(i=1, **extra):
    base = {"event_type": "email_clicked", "user_id": f"cust-{i:05d}", "insert_id": f"ins-{i}",
            "time": 1_700_000_000_000 + i}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not ...}


def post(fake, events, options=None, api_key=KEY, path="/2/httpapi", headers=JSON, compress=False):
    body = {"api_key": api_key, "events": events}
    if options is not None:
        body["options"] = options
    data = json.dumps(body).encode()
    headers = dict(headers)
    if compress:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    return requests.post(fake.url + path, data=data, headers=headers, timeout=5)


def post_identify(fake, identification, api_key=KEY, options=None):
    form = {"api_key": api_key, "identification": json.dumps(identification)}
    if options is not None:
        form["options"] = json.dumps(options)
    return requests.post(fake.url + "/identify", data=urlencode(form), headers=FORM, timeout=5)


# -- ids -------------------------------------------------------------------------------


def test_short_id_rejected_unless_min_id_length(fake):
    resp = post(fake, [event(user_id="abc")])
    assert resp.status_code == 400
    assert resp.json() == {"code": 400, "error": "Invalid id length for user_id or device_id",
                           "events_with_invalid_id_lengths": {"user_id": [0]}}
    assert post(fake, [event(user_id="abc")], options={"min_id_length": 3}).status_code == 200
    assert fake.event_count == 1


@pytest.mark.parametrize("bad", ["anonymous", "NULL", "None", "nil", "n/a", "NA", "undefined", "Unknown",
                                 "", "0", "-1", "00000000-0000-0000-0000-000000000000", "{}", "LMY47D",
                                 "0000000000"])
def test_blocked_ids_rejected(fake, bad):
    resp = post(fake, [event(user_id=bad)], options={"min_id_length": 1})
    assert resp.status_code == 400
    assert resp.json()["events_with_invalid_fields"] == {"user_id": [0]}
    resp = post(fake, [event(user_id=..., device_id=bad)], options={"min_id_length": 1})
    assert resp.json()["events_with_invalid_fields"] == {"device_id": [0]}
    assert fake.event_count == 0


def test_numeric_id_rejected(fake):
    resp = post(fake, [event(user_id=1234567)])
    assert resp.status_code == 400 and resp.json()["events_with_invalid_fields"] == {"user_id": [0]}


def test_missing_fields_listed_and_nothing_ingested(fake):
    events = [event(1), event(2, event_type=...), event(3), event(4, user_id=...), event(5, user_id="abc")]
    resp = post(fake, events)
    assert resp.status_code == 400
    assert resp.json() == {
        "code": 400, "error": "Invalid field values on some events",
        "events_with_missing_fields": {"event_type": [1], "user_id": [3]},
        "events_with_invalid_id_lengths": {"user_id": [4]},
    }
    assert fake.event_count == 0 and fake.requests == [("/2/httpapi", 400, 5)]


def test_device_id_alone_is_enough(fake):
    assert post(fake, [event(user_id=..., device_id="device-abc-123")]).status_code == 200


# -- field types -------------------------------------------------------------------------


@pytest.mark.parametrize("bad_time", [1.7e12, 1700000000000.0, "2024-01-01T00:00:00Z", "1700000000000", True, None])
def test_time_must_be_an_integer(fake, bad_time):
    resp = post(fake, [event(time=bad_time)])
    assert resp.status_code == 400 and resp.json()["events_with_invalid_fields"] == {"time": [0]}


def test_time_absent_or_int_accepted(fake):
    assert post(fake, [event(1, time=...), event(2)]).status_code == 200
    assert fake.event_count == 2


@pytest.mark.parametrize("bad", [123, "", None])
def test_insert_id_must_be_a_string(fake, bad):
    resp = post(fake, [event(insert_id=bad)])
    assert resp.status_code == 400 and resp.json()["events_with_invalid_fields"] == {"insert_id": [0]}


def test_properties_must_be_objects(fake):
    resp = post(fake, [event(event_properties=[1, 2])])
    assert resp.json()["events_with_invalid_fields"] == {"event_properties": [0]}
    assert post(fake, [event(event_properties={"tags": ["a", "b"], "n": 1.5, "ok": True})]).status_code == 200


# -- request-level errors -----------------------------------------------------------------


def test_wrong_api_key(fake):
    resp = post(fake, [event()], api_key="nope")
    assert resp.status_code == 400 and resp.json() == {"code": 400, "error": "Invalid API key: nope"}


def test_wrong_content_type(fake):
    resp = post(fake, [event()], headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400 and "Content-Type" in resp.json()["error"]
    assert post(fake, [event()], headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200
    resp = requests.post(fake.url + "/identify", json={"api_key": KEY}, timeout=5)
    assert resp.status_code == 400


def test_malformed_bodies(fake):
    url = fake.url + "/2/httpapi"
    assert requests.post(url, data=b"", headers=JSON).json()["error"] == "Missing request body"
    assert requests.post(url, data=b"{", headers=JSON).json()["error"] == "Invalid JSON request body"
    resp = requests.post(url, data=json.dumps({"api_key": KEY}), headers=JSON).json()
    assert resp == {"code": 400, "error": "Request missing required field", "missing_field": "events"}
    resp = requests.post(url, data=json.dumps({"events": []}), headers=JSON).json()
    assert resp["missing_field"] == "api_key"
    assert requests.post(fake.url + "/3/nothing", data=b"{}", headers=JSON).json()["error"] == "Invalid request path"
    resp = requests.post(url, data=json.dumps({"api_key": KEY, "events": [[1]]}), headers=JSON)
    assert resp.json()["error"] == "Invalid event JSON"


def test_event_count_limit(fake):
    assert post(fake, [event(i) for i in range(2000)]).status_code == 200
    resp = post(fake, [event(i) for i in range(2001)])
    assert resp.status_code == 413 and resp.json() == {"code": 413, "error": "Payload too large"}
    assert post(fake, [event(i) for i in range(2001)], path="/batch").status_code == 413
    assert fake.event_count == 2000


def test_body_size_limit_per_endpoint(fake):
    big = [event(1, event_properties={"blob": "x" * 1_100_000})]
    assert post(fake, big).status_code == 413
    assert post(fake, big, path="/batch").status_code == 200
    assert fake.event_count == 1


def test_gzip_accepted_and_limits_count_the_decompressed_body(fake):
    resp = post(fake, [event(1)], compress=True)
    assert resp.status_code == 200 and fake.request_records[-1].gzipped
    big = [event(2, event_properties={"blob": "x" * 1_100_000})]  # compresses to a few KB
    assert post(fake, big, compress=True).status_code == 413
    resp = requests.post(fake.url + "/2/httpapi", data=b"not gzip",
                         headers={**JSON, "Content-Encoding": "gzip"}, timeout=5)
    assert resp.status_code == 400


# -- success and dedup ---------------------------------------------------------------------


def test_success_body_and_dedup(fake):
    resp = post(fake, [event(1), event(2)])
    body = resp.json()
    assert resp.status_code == 200 and body["code"] == 200 and body["events_ingested"] == 2
    assert body["payload_size_bytes"] > 0 and isinstance(body["server_upload_time"], int)
    post(fake, [event(1), event(2)])  # a retry: same users, same insert_ids
    post(fake, [event(3, insert_id="ins-1")])  # same insert_id, other user: kept
    assert fake.event_count == 3 and fake.duplicates_dropped == 2 and fake.distinct_insert_ids == 2
    post(fake, [event(4, user_id=..., device_id="device-1234", insert_id="dev-ins"),
                event(5, user_id="cust-99999", device_id="device-1234", insert_id="dev-ins")])
    assert fake.duplicates_dropped == 3  # scope is device_id when present


# -- identify ------------------------------------------------------------------------------


def test_identify_applies_operations(fake):
    resp = post_identify(fake, {"user_id": "cust-00042", "user_properties": {"plan": "pro", "seats": 2}})
    assert resp.status_code == 200  # one object, plain keys = $set
    resp = post_identify(fake, [
        {"user_id": "cust-00042", "user_properties": {"$set": {"vip": True}, "$setOnce": {"plan": "free", "first": "x"},
                                                       "$add": {"seats": 3}, "$append": {"tags": "a"}}},
        {"user_id": "cust-00043", "user_properties": {"$set": {"vip": False}}},
    ])
    assert resp.status_code == 200
    post_identify(fake, [{"user_id": "cust-00042", "user_properties": {"$unset": {"vip": "-"}}}])
    assert fake.user_properties == {
        "cust-00042": {"plan": "pro", "seats": 5, "first": "x", "tags": ["a"]},
        "cust-00043": {"vip": False},
    }
    assert len(fake.identifications) == 4
    assert fake.requests == [("/identify", 200, 1), ("/identify", 200, 2), ("/identify", 200, 1)]


def test_identify_validation(fake):
    resp = post_identify(fake, [{"user_id": "cust-00042", "user_properties": {"$set": {"a": 1}, "plain": 2}}])
    assert resp.status_code == 400 and resp.json()["events_with_invalid_fields"] == {"user_properties": [0]}
    resp = post_identify(fake, [{"user_properties": {"$set": {"a": 1}}}])
    assert resp.json()["events_with_missing_fields"] == {"user_id": [0]}
    assert post_identify(fake, [{"user_id": "abc"}]).status_code == 400
    assert post_identify(fake, [{"user_id": "abc"}], options={"min_id_length": 3}).status_code == 200
    assert post_identify(fake, {"user_id": "cust-1"}, api_key="bad").json()["error"] == "Invalid API key: bad"
    resp = requests.post(fake.url + "/identify", data=urlencode({"api_key": KEY}), headers=FORM, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"] == "missing_event"
    assert fake.user_properties == {"abc": {}}


# -- faults and throttling --------------------------------------------------------------------


def test_fault_list_is_consumed_one_per_request():
    faults = ["429", "500", "ingest_then_500", "503", "invalid_key", "413", "403", None]
    with FakeAmplitude(api_key=KEY, faults=faults) as fake:
        answers = [post(fake, [event(i), event(i + 100)]) for i in range(9)]
        assert [r.status_code for r in answers] == [429, 500, 500, 503, 400, 413, 403, 200, 200]
        assert answers[0].json() == {
            "code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 30,
            "throttled_devices": {}, "throttled_users": {"cust-00000": 31}, "throttled_events": [0]}
        assert answers[4].json()["error"] == f"Invalid API key: {KEY}"
        assert fake.event_count == 6  # ingest_then_500 + the two normal requests


def test_timeout_fault_sleeps_then_answers(fake):
    fake.timeout_sleep_s = 0.3
    fake.add_faults("timeout")
    with pytest.raises(requests.Timeout):
        requests.post(fake.url + "/2/httpapi", data=json.dumps({"api_key": KEY, "events": [event()]}),
                      headers=JSON, timeout=0.1)
    assert fake.event_count == 0


def test_unknown_fault_and_non_loopback_refused():
    with pytest.raises(ValueError):
        FakeAmplitude(faults=["418"])
    with pytest.raises(ValueError):
        FakeAmplitude(host="0.0.0.0")


def test_fault_rate_is_seeded():
    def statuses(seed):
        with FakeAmplitude(api_key=KEY, fault_rate=0.5, seed=seed) as fake:
            return [post(fake, [event(i)]).status_code for i in range(20)]

    first = statuses(11)
    assert first == statuses(11)
    assert set(first) <= {200, 429, 500, 503} and 200 in first and len(set(first)) > 1


def test_max_events_per_user_per_request():
    with FakeAmplitude(api_key=KEY, max_events_per_user_per_request=2) as fake:
        users = ["heavy-user", "light-user", "heavy-user", "heavy-user", "heavy-user"]
        resp = post(fake, [event(i, user_id=u) for i, u in enumerate(users)])
        assert resp.status_code == 429
        body = resp.json()
        assert body["throttled_users"] == {"heavy-user": 4} and body["throttled_events"] == [3, 4]
        assert fake.event_count == 0
        assert post(fake, [event(i, user_id=u) for i, u in enumerate(users[:3])]).status_code == 200


# -- inspection and entry point -----------------------------------------------------------------


def test_state_endpoint_and_reset(fake):
    post(fake, [event(1)])
    post_identify(fake, [{"user_id": "cust-00001", "user_properties": {"$set": {"vip": True}}}])
    state = requests.get(fake.url + "/_fake/state", timeout=5).json()
    assert state["event_count"] == 1 and state["identifications"] == 1
    assert state["user_properties"] == {"cust-00001": {"vip": True}}
    assert [(r["path"], r["status"], r["n_events"]) for r in state["requests"]] == fake.requests
    fake.reset()
    assert fake.event_count == 0 and fake.requests == [] and fake.user_properties == {}


def test_module_entry_point_serves_until_stopped():
    proc = subprocess.Popen(
        [sys.executable, "-m", "msgmetrics.amplitude.fake_server", "--port", "0", "--api-key", "demo-key"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split("listening on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        resp = requests.post(url + "/2/httpapi", json={"api_key": "demo-key", "events": [event()]}, timeout=5)
        assert resp.status_code == 200
        assert requests.get(url + "/_fake/state", timeout=5).json()["event_count"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stderr.read() == ""


def test_per_user_eps_is_averaged_over_a_sliding_window():
    with FakeAmplitude(api_key=KEY, eps_window_s=1.0) as fake:  # /2/httpapi: 30 events/s -> 30 per window
        resp = post(fake, [event(i, user_id="busy-user") for i in range(31)])
        assert resp.status_code == 429
        body = resp.json()
        assert body["throttled_users"] == {"busy-user": 31} and body["throttled_events"] == [30]
        assert body["eps_threshold"] == 30 and fake.event_count == 0  # a 429 ingests nothing
        assert post(fake, [event(i, user_id="busy-user") for i in range(30)]).status_code == 200
        assert post(fake, [event(99, user_id="busy-user")]).status_code == 429  # the window is full
        assert post(fake, [event(98, user_id="other-user")]).status_code == 200  # only that user is
        time.sleep(1.05)
        assert post(fake, [event(99, user_id="busy-user")]).status_code == 200  # the window moved on
        assert fake.event_count == 32


def test_batch_allows_1000_eps_per_user():
    with FakeAmplitude(api_key=KEY, eps_window_s=1.0) as fake:
        assert post(fake, [event(i, user_id="busy-user") for i in range(1000)], path="/batch").status_code == 200
        resp = post(fake, [event(1000, user_id="busy-user")], path="/batch")
        assert resp.status_code == 429 and resp.json()["eps_threshold"] == 1000


def test_concurrency_is_observed():
    import threading

    with FakeAmplitude(api_key=KEY, response_delay_s=0.2) as fake:
        threads = [threading.Thread(target=post, args=(fake, [event(i, user_id=u)]))
                   for i, u in enumerate(["user-a", "user-b", "user-a"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert fake.peak_concurrent_requests == 3
        assert fake.overlapping_requests == 1  # the second request for user-a arrived while the first ran
