"""AmplitudeCohortsClient and the fake's Behavioral Cohorts API, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import random
import threading
import time

import pytest
import requests

from msgmetrics.amplitude import (
    AmplitudeAuthError,
    AmplitudeClient,
    AmplitudeCohortNotFoundError,
    AmplitudeCohortsClient,
    AmplitudeConfig,
    AmplitudeConfigError,
    AmplitudeError,
    AmplitudeForbiddenError,
    AmplitudeUnavailableError,
)
from msgmetrics.amplitude.fake_server import FakeAmplitude

KEY = "test-key-0123456789abcdef"
SECRET = "test-secret-abcdefghijklmnop"
APP_ID = 424242
OWNER = "data@example.com"
LIST, UPLOAD, MEMBERSHIP = "/api/3/cohorts", "/api/3/cohorts/upload", "/api/3/cohorts/membership"
USERS = [f"cust-{i:05d}" for i in range(40)]


@pytest.fixture
def fake():
    with FakeAmplitude(api_key=KEY, secret_key=SECRET, app_id=APP_ID) as server:
        server.add_known_users(*USERS)
        yield server


def config(fake=None, **overrides):
    settings = dict(api_key=KEY, secret_key=SECRET, app_id=APP_ID, cohort_owner=OWNER,
                    api_url=fake.url if fake else None, timeout_s=2.0, max_retry_seconds=5.0,
                    backoff_base_s=0.01, backoff_max_s=0.02)
    settings.update(overrides)
    return AmplitudeConfig(**settings)


def make_client(fake, session=None, **overrides):
    return AmplitudeCohortsClient(config(fake, **overrides), session=session, rng=random.Random(7))


def log_of(fake):
    """(method, path, status, operations) per cohort request, in the order answered."""
    return [(r.method, r.path, r.status, [tuple(op) for op in r.operations]) for r in fake.cohort_requests]


class RecordingSession(requests.Session):
    """A real session that also keeps each request's method, URL, JSON body and auth."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, dict | None, tuple]] = []

    def request(self, method, url, data=None, auth=None, **kwargs):
        self.sent.append((method, url, json.loads(data) if data else None, auth))
        return super().request(method, url, data=data, auth=auth, **kwargs)


class CannedSession(requests.Session):
    """Answers every request with 200 ``{"cohorts": []}`` without touching the network."""

    def __init__(self):
        super().__init__()
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        resp = requests.Response()
        resp.status_code, resp._content, resp.url = 200, b'{"cohorts": []}', request.url
        resp.headers["Content-Type"] = "application/json"
        return resp


def raw_post(fake, path, body, auth=(KEY, SECRET), timeout=5):
    return requests.post(fake.url + path, json=body, auth=auth, timeout=timeout)


# -- create, find, replace ------------------------------------------------------------


def test_create_then_find_by_name(fake):
    session = RecordingSession()
    client = make_client(fake, session=session)
    result = client.upload_result("cio_email_clickers_30d", USERS[:3] + [USERS[0]])
    assert client.find_cohort_id("cio_email_clickers_30d") == result.cohort_id
    assert client.find_cohort_id("cio_email_clickers") is None  # exact names only
    assert fake.cohorts[result.cohort_id] == {
        "name": "cio_email_clickers_30d", "owner": OWNER, "published": True, "archived": False,
        "count_group": "User", "members": set(USERS[:3]), "last_mod": fake.cohorts[result.cohort_id]["last_mod"]}
    assert (result.ids_sent, result.matched, result.totals, result.invalid_ids_sample) == (3, 3, 3, [])
    assert not result.replaced and result.retries == 0
    method, url, body, auth = session.sent[1]
    assert (method, url, auth) == ("POST", fake.url + UPLOAD, (KEY, SECRET))
    assert body == {"name": "cio_email_clickers_30d", "app_id": APP_ID, "id_type": "BY_USER_ID",
                    "ids": USERS[:3], "owner": OWNER, "published": True, "skip_invalid_ids": True}
    # a create lists first (to make a retried create safe); finding lists again, never downloads
    assert log_of(fake) == [("GET", LIST, 200, []), ("POST", UPLOAD, 200, [("CREATE", 3)]),
                            ("GET", LIST, 200, []), ("GET", LIST, 200, [])]
    listed = client.list_cohorts()
    assert [(c["id"], c["name"], c["size"], c["appId"], c["owners"]) for c in listed] == [
        (result.cohort_id, "cio_email_clickers_30d", 3, APP_ID, [OWNER])]


def test_upload_returns_the_cohort_id_and_can_be_unpublished(fake):
    cohort_id = make_client(fake).upload("hidden_cohort", USERS[:2], published=False)
    assert isinstance(cohort_id, str) and fake.cohorts[cohort_id]["published"] is False


def test_find_skips_archived_and_prefers_the_most_recently_modified(fake):
    old = fake.add_cohort("vip", USERS[:1])
    newer = fake.add_cohort("vip", USERS[:2])
    archived = fake.add_cohort("vip", USERS[:3])
    fake.archive_cohort(archived)
    client = make_client(fake)
    assert client.find_cohort_id("vip") == newer != old
    fake.archive_cohort(newer)
    fake.archive_cohort(old)
    assert client.find_cohort_id("vip") is None
    assert len(client.list_cohorts()) == 3  # list_cohorts shows archived ones too


def test_full_replace_via_existing_cohort_id_leaves_exactly_the_given_members(fake):
    client = make_client(fake)
    cohort_id = client.upload("at_risk", USERS[:5])
    result = client.upload_result("at_risk", USERS[3:8], existing_cohort_id=cohort_id)
    assert result.cohort_id == cohort_id and result.replaced
    assert list(fake.cohorts) == [cohort_id]
    assert fake.cohorts[cohort_id]["members"] == set(USERS[3:8])
    assert log_of(fake)[-1] == ("POST", UPLOAD, 200, [("REPLACE", 5)])  # a replace does not list first


def test_upload_refuses_empty_and_oversized_id_lists_locally(fake):
    client = make_client(fake)
    with pytest.raises(ValueError, match="empty ids"):
        client.upload("nobody", [])
    with pytest.raises(ValueError, match="empty ids"):
        client.upload("nobody", [], existing_cohort_id="abc1234")
    with pytest.raises(ValueError, match="100,000"):
        client.upload("everybody", [f"user-{i}" for i in range(100_001)])
    with pytest.raises(TypeError, match="strings"):
        client.upload("numbers", [12345, 67890])
    assert fake.cohort_requests == []


# -- membership --------------------------------------------------------------------------


def test_membership_adds_then_removes_in_chunks_one_request_at_a_time(fake):
    client = make_client(fake)
    cohort_id = client.upload("engaged", USERS[25:40])
    before = len(fake.cohort_requests)
    calls = []
    result = client.update_membership(
        cohort_id, add=USERS[:25], remove=USERS[28:40], chunk_size=10,
        on_added=lambda ids: calls.append(("added", list(ids))),
        on_removed=lambda ids: calls.append(("removed", list(ids))),
    )
    assert log_of(fake)[before:] == [
        ("POST", MEMBERSHIP, 200, [("ADD", 10)]), ("POST", MEMBERSHIP, 200, [("ADD", 10)]),
        ("POST", MEMBERSHIP, 200, [("ADD", 5)]),
        ("POST", MEMBERSHIP, 200, [("REMOVE", 10)]), ("POST", MEMBERSHIP, 200, [("REMOVE", 2)]),
    ]
    assert calls == [("added", USERS[0:10]), ("added", USERS[10:20]), ("added", USERS[20:25]),
                     ("removed", USERS[28:38]), ("removed", USERS[38:40])]
    assert fake.cohorts[cohort_id]["members"] == set(USERS[:28])
    assert (result.add_requested, result.remove_requested, result.added, result.removed) == (25, 12, 25, 12)
    assert (result.add_requests, result.remove_requests, result.sent_requests, result.retries) == (3, 2, 5, 0)
    assert not any(r.concurrent for r in fake.cohort_requests)


def test_membership_request_body_uses_by_name(fake):
    session = RecordingSession()
    client = make_client(fake, session=session)
    cohort_id = fake.add_cohort("c1", USERS[:2])
    client.update_membership(cohort_id, add=[USERS[5], USERS[5]], remove=[USERS[0]])
    bodies = [body for _, url, body, _ in session.sent]
    assert bodies == [
        {"cohort_id": cohort_id, "count_group": "User", "skip_invalid_ids": True,
         "memberships": [{"ids": [USERS[5]], "id_type": "BY_NAME", "operation": "ADD"}]},
        {"cohort_id": cohort_id, "count_group": "User", "skip_invalid_ids": True,
         "memberships": [{"ids": [USERS[0]], "id_type": "BY_NAME", "operation": "REMOVE"}]},
    ]


def test_chunk_size_is_capped_at_100000(fake):
    many = [f"user-{i:06d}" for i in range(100_001)]
    fake.add_known_users(*many)
    cohort_id = fake.add_cohort("big", [])
    result = make_client(fake).update_membership(cohort_id, add=many, chunk_size=250_000)
    assert log_of(fake) == [("POST", MEMBERSHIP, 200, [("ADD", 100_000)]), ("POST", MEMBERSHIP, 200, [("ADD", 1)])]
    assert result.added == 100_001 and len(fake.cohorts[cohort_id]["members"]) == 100_001


def test_membership_argument_checks_and_nothing_to_do(fake):
    client = make_client(fake)
    cohort_id = fake.add_cohort("c1", USERS[:2])
    with pytest.raises(ValueError, match="both add and remove"):
        client.update_membership(cohort_id, add=USERS[:3], remove=USERS[2:4])
    with pytest.raises(ValueError, match="chunk_size"):
        client.update_membership(cohort_id, add=USERS[:3], chunk_size=0)
    with pytest.raises(TypeError):
        client.update_membership(cohort_id, add="cust-00001")
    result = client.update_membership(cohort_id)
    assert (result.added, result.removed, result.sent_requests) == (0, 0, 0)
    assert fake.cohort_requests == []


def test_unknown_cohort_is_a_not_found_error(fake):
    with pytest.raises(AmplitudeCohortNotFoundError, match="nosuch1"):
        make_client(fake).update_membership("nosuch1", add=USERS[:1])
    with pytest.raises(AmplitudeCohortNotFoundError):
        make_client(fake).upload("x", USERS[:1], existing_cohort_id="nosuch1")


# -- unknown users -------------------------------------------------------------------------


def test_users_unknown_to_the_project_are_reported_as_skipped():
    with FakeAmplitude(api_key=KEY, secret_key=SECRET, app_id=APP_ID) as fake:
        ingest = AmplitudeClient(AmplitudeConfig(api_key=KEY, ingest_url=fake.url))
        ingest.send_events([{"event_type": "email_opened", "user_id": "known-by-event", "insert_id": "i-1"}],
                           lambda r: None, lambda r, why: None)
        ingest.identify([{"user_id": "known-by-identify", "user_properties": {"$set": {"a": 1}}}],
                        lambda r: None, lambda r, why: None)
        client = make_client(fake)
        result = client.upload_result("mixed", ["known-by-event", "never-seen-1", "known-by-identify"])
        assert (result.matched, result.invalid_ids_sample) == (2, ["never-seen-1"])
        assert fake.cohorts[result.cohort_id]["members"] == {"known-by-event", "known-by-identify"}
        added = []
        m = client.update_membership(result.cohort_id, add=["never-seen-2", "known-by-event"],
                                     remove=["never-seen-3", "known-by-identify"], on_added=added.append)
        assert m.skipped_add == {"never-seen-2"} and m.skipped_remove == {"never-seen-3"}
        assert (m.added, m.removed) == (1, 1)
        assert added == [["known-by-event"]]  # on_added gets the ids now in the cohort
        assert fake.cohorts[result.cohort_id]["members"] == {"known-by-event"}
        with pytest.raises(AmplitudeError, match="at least one valid id"):
            client.upload("ghosts", ["never-seen-1"])  # no valid id at all: Amplitude refuses


def test_known_user_check_can_be_switched_off():
    with FakeAmplitude(api_key=KEY, secret_key=SECRET, app_id=APP_ID, cohort_requires_known_users=False) as fake:
        result = make_client(fake).upload_result("anyone", ["stranger-1", "stranger-2"])
        assert result.invalid_ids_sample == [] and fake.cohorts[result.cohort_id]["members"] == {
            "stranger-1", "stranger-2"}


# -- concurrency ------------------------------------------------------------------------------


def test_fake_answers_429_to_concurrent_edits_of_one_cohort(fake):
    fake.cohort_delay_s = 0.4
    cohort_id, other_id = fake.add_cohort("c1", []), fake.add_cohort("c2", [])
    barrier = threading.Barrier(3)
    statuses: dict[str, int] = {}

    def edit(name, cid, ids):
        barrier.wait()
        body = {"cohort_id": cid, "memberships": [{"ids": ids, "id_type": "BY_NAME", "operation": "ADD"}]}
        statuses[name] = raw_post(fake, MEMBERSHIP, body).status_code

    threads = [threading.Thread(target=edit, args=("a", cohort_id, USERS[:2])),
               threading.Thread(target=edit, args=("b", cohort_id, USERS[2:4])),
               threading.Thread(target=edit, args=("other", other_id, USERS[4:6]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted([statuses["a"], statuses["b"]]) == [200, 429] and statuses["other"] == 200
    assert [r.concurrent for r in fake.cohort_requests if r.status == 429] == [True]
    assert len(fake.cohorts[cohort_id]["members"]) == 2  # only the winner's ids


def test_client_never_edits_one_cohort_concurrently(fake):
    fake.cohort_delay_s = 0.05
    client = make_client(fake)
    cohort_id = client.upload("serial", USERS[30:40])
    client.update_membership(cohort_id, add=USERS[:30], remove=USERS[30:40], chunk_size=4)
    statuses = [r.status for r in fake.cohort_requests]
    assert statuses == [200] * len(statuses) and len(statuses) == 2 + 8 + 3
    assert fake.cohorts[cohort_id]["members"] == set(USERS[:30])


def test_retry_after_a_timeout_waits_out_the_still_running_request(fake):
    fake.cohort_delay_s = 0.5  # the fake keeps working on the first try after the client gave up
    cohort_id = fake.add_cohort("slow", [])

    def only_the_first_request_is_slow():
        deadline = time.monotonic() + 5
        while cohort_id not in fake.cohorts_in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        fake.cohort_delay_s = 0.0

    watcher = threading.Thread(target=only_the_first_request_is_slow)
    watcher.start()
    added = []
    result = make_client(fake, timeout_s=0.2).update_membership(cohort_id, add=USERS[:3], on_added=added.append)
    watcher.join()
    assert fake.cohorts[cohort_id]["members"] == set(USERS[:3])
    assert added == [USERS[:3]] and result.retries >= 1
    assert any(r.concurrent for r in fake.cohort_requests)  # the retry met the running request: 429


# -- faults and retries ------------------------------------------------------------------------


def test_500_and_ingest_then_500_are_retried_without_double_effect(fake):
    cohort_id = fake.add_cohort("c1", USERS[30:35])
    fake.add_faults("500", "ingest_then_500", None, "429", "ingest_then_500", "503")
    calls = []
    result = make_client(fake).update_membership(
        cohort_id, add=USERS[:4], remove=USERS[30:32], chunk_size=2,
        on_added=lambda ids: calls.append(("added", ids)), on_removed=lambda ids: calls.append(("removed", ids)))
    assert [(r.status, r.fault, tuple(r.operations[0])) for r in fake.cohort_requests] == [
        (500, "500", ("ADD", 2)), (500, "ingest_then_500", ("ADD", 2)), (200, None, ("ADD", 2)),
        (429, "429", ("ADD", 2)), (500, "ingest_then_500", ("ADD", 2)), (503, "503", ("ADD", 2)),
        (200, None, ("ADD", 2)), (200, None, ("REMOVE", 2)),
    ]
    assert calls == [("added", USERS[0:2]), ("added", USERS[2:4]), ("removed", USERS[30:32])]
    assert fake.cohorts[cohort_id]["members"] == set(USERS[:4]) | set(USERS[32:35])
    assert (result.retries, result.sent_requests, result.added, result.removed) == (5, 8, 4, 2)


def test_create_applied_before_a_500_is_resent_as_a_replace(fake):
    fake.add_faults(None, "ingest_then_500")  # the first list passes; the create is applied, then 500
    result = make_client(fake).upload_result("weekly_buyers", USERS[:3])
    assert list(fake.cohorts) == [result.cohort_id]  # one cohort, not two
    assert result.replaced and result.retries == 1
    assert log_of(fake) == [("GET", LIST, 200, []), ("POST", UPLOAD, 500, [("CREATE", 3)]),
                            ("GET", LIST, 200, []), ("POST", UPLOAD, 200, [("REPLACE", 3)])]


def test_create_not_applied_is_simply_resent(fake):
    fake.add_cohort("weekly_buyers", USERS[:1])  # an older cohort of the same name is left alone
    fake.add_faults(None, "503")
    result = make_client(fake).upload_result("weekly_buyers", USERS[:3])
    assert not result.replaced and len(fake.cohorts) == 2
    assert fake.cohorts[result.cohort_id]["members"] == set(USERS[:3])


def test_retry_budget_ends_in_unavailable_with_the_counts_so_far(fake):
    cohort_id = fake.add_cohort("c1", [])
    fake.add_faults(None, *["503"] * 1000)
    added = []
    with pytest.raises(AmplitudeUnavailableError, match="HTTP 503") as err:
        make_client(fake, max_retry_seconds=0.3).update_membership(
            cohort_id, add=USERS[:4], chunk_size=2, on_added=added.append)
    assert added == [USERS[:2]] and fake.cohorts[cohort_id]["members"] == set(USERS[:2])
    assert err.value.result.add_requests == 1 and err.value.result.retries > 0


def test_backoff_is_full_jitter_within_the_retry_budget(fake):
    class Clock:
        now = 0.0
        sleeps: list[float] = []

        def sleep(self, seconds):
            self.sleeps.append(seconds)
            self.now += seconds

    clock = Clock()
    cohort_id = fake.add_cohort("c1", [])
    fake.add_faults(*["429"] * 500)
    client = AmplitudeCohortsClient(config(fake, max_retry_seconds=120.0, backoff_base_s=1.0, backoff_max_s=16.0),
                                    sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(3))
    with pytest.raises(AmplitudeUnavailableError, match="HTTP 429"):
        client.update_membership(cohort_id, add=USERS[:1])
    assert len(fake.cohort_requests) == len(clock.sleeps) + 1
    assert all(s <= min(16.0, 2.0 ** k) for k, s in enumerate(clock.sleeps))
    assert sum(clock.sleeps) == pytest.approx(120.0)
    assert len({round(s, 3) for s in clock.sleeps}) > 5


# -- fatal errors and configuration ---------------------------------------------------------------


def test_wrong_secret_is_an_auth_error_without_the_secret(fake, caplog):
    wrong = "wrong-secret-9999-abcdefgh"
    client = make_client(fake, secret_key=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(AmplitudeAuthError) as err:
        client.update_membership(fake.add_cohort("c1", []), add=USERS[:1])
    message = str(err.value)
    for secret in (wrong, KEY, SECRET):
        assert secret not in message and secret not in caplog.text
    assert wrong not in repr(client) and "AMPLITUDE_SECRET_KEY" in message and "401" in message
    assert log_of(fake) == [("POST", MEMBERSHIP, 401, [])]  # not retried
    with pytest.raises(AmplitudeAuthError):
        make_client(fake, api_key="another-key-0123456789").list_cohorts()


def test_403_is_fatal_and_other_4xx_carry_the_message(fake):
    fake.add_faults("403")
    with pytest.raises(AmplitudeForbiddenError, match="403"):
        make_client(fake).list_cohorts()
    with pytest.raises(AmplitudeError, match="app_id 999 is not this project's id") as err:
        make_client(fake, app_id=999).upload("c", USERS[:1])
    assert type(err.value) is AmplitudeError
    assert [r.status for r in fake.cohort_requests] == [403, 200, 400]


def test_missing_cohort_settings_name_the_env_vars():
    with pytest.raises(AmplitudeConfigError) as err:
        AmplitudeCohortsClient(AmplitudeConfig(api_key=KEY))
    for name in ("AMPLITUDE_SECRET_KEY", "AMPLITUDE_APP_ID", "AMPLITUDE_COHORT_OWNER"):
        assert name in str(err.value)
    with pytest.raises(AmplitudeConfigError, match="not set: AMPLITUDE_COHORT_OWNER$"):
        AmplitudeCohortsClient(AmplitudeConfig(api_key=KEY, secret_key=SECRET, app_id=APP_ID))


def test_from_env_reads_app_id_and_owner():
    env = {"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET, "AMPLITUDE_APP_ID": " 153957 ",
           "AMPLITUDE_COHORT_OWNER": OWNER}
    cfg = AmplitudeConfig.from_env(env)
    assert (cfg.app_id, cfg.cohort_owner, cfg.cohorts_enabled) == (153957, OWNER, True)
    assert SECRET not in repr(cfg) and KEY not in repr(cfg) and OWNER in repr(cfg)
    assert not AmplitudeConfig.from_env({**env, "AMPLITUDE_SECRET_KEY": ""}).cohorts_enabled
    assert not AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY}).cohorts_enabled
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_APP_ID"):
        AmplitudeConfig.from_env({**env, "AMPLITUDE_APP_ID": "acme"})
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_APP_ID"):
        AmplitudeConfig.from_env({**env, "AMPLITUDE_APP_ID": "0"})
    with pytest.raises(AmplitudeConfigError, match="AMPLITUDE_COHORT_OWNER"):
        AmplitudeConfig.from_env({**env, "AMPLITUDE_COHORT_OWNER": "data-team"})


@pytest.mark.parametrize("env, expected", [
    ({}, "https://amplitude.com/api/3/cohorts"),
    ({"AMPLITUDE_REGION": "eu"}, "https://analytics.eu.amplitude.com/api/3/cohorts"),
    ({"AMPLITUDE_REGION": "eu", "AMPLITUDE_API_URL": "http://127.0.0.1:9/proxy/"},
     "http://127.0.0.1:9/proxy/api/3/cohorts"),
])
def test_rest_host_by_region_and_override(env, expected):
    session = CannedSession()  # nothing leaves the process
    cfg = AmplitudeConfig.from_env({"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
                                    "AMPLITUDE_APP_ID": str(APP_ID), "AMPLITUDE_COHORT_OWNER": OWNER, **env})
    assert AmplitudeCohortsClient(cfg, session=session).list_cohorts() == []
    (request,) = session.requests
    assert request.method == "GET" and request.url == expected
    assert request.headers["Authorization"] == requests.auth._basic_auth_str(KEY, SECRET)
    assert "/api/5/" not in request.url  # never the quota-limited download endpoints


# -- the fake's contract ------------------------------------------------------------------------


def test_fake_checks_basic_auth(fake):
    resp = requests.get(fake.url + LIST, timeout=5)
    assert resp.status_code == 401 and resp.json() == {"error": "Invalid credentials"}
    assert requests.get(fake.url + LIST, auth=(KEY, "nope"), timeout=5).status_code == 401
    assert requests.get(fake.url + LIST, headers={"Authorization": "Basic !!!"}, timeout=5).status_code == 401
    assert requests.get(fake.url + LIST, auth=(KEY, SECRET), timeout=5).json() == {"cohorts": []}


def test_fake_validates_uploads(fake):
    good = {"name": "c", "app_id": APP_ID, "id_type": "BY_USER_ID", "ids": USERS[:2], "owner": OWNER,
            "published": True}
    for missing in good:
        resp = raw_post(fake, UPLOAD, {k: v for k, v in good.items() if k != missing})
        assert resp.status_code == 400 and resp.json()["message"] == f"Missing required field: {missing}"
    bad_values = [("app_id", APP_ID + 1), ("app_id", str(APP_ID)), ("id_type", "BY_NAME"), ("ids", []),
                  ("ids", [1, 2]), ("owner", "nobody"), ("published", "yes"), ("existing_cohort_id", 7),
                  ("ids", [f"u{i}" for i in range(100_001)]), ("skip_invalid_ids", "no")]
    for name, value in bad_values:
        resp = raw_post(fake, UPLOAD, {**good, name: value})
        body = resp.json()
        assert resp.status_code == 400, (name, value)
        assert set(body) == {"http_code", "type", "message", "metadata"} and body["http_code"] == 400
    assert raw_post(fake, UPLOAD, {**good, "existing_cohort_id": "nosuch1"}).status_code == 404
    resp = raw_post(fake, UPLOAD, {**good, "ids": ["never-seen"] + USERS[:1], "skip_invalid_ids": False})
    assert resp.status_code == 400 and resp.json()["metadata"]["invalid_ids_sample"] == ["never-seen"]
    resp = raw_post(fake, UPLOAD, {**good, "skip_save": True})
    assert resp.status_code == 200 and resp.json()["cohortId"] is None
    assert fake.cohorts == {}
    resp = raw_post(fake, UPLOAD, {**good, "id_type": "BY_AMP_ID", "ids": ["12345", "user-x"]})
    assert resp.status_code == 200
    assert resp.json()["metadata"] == {"matched": 1, "totals": 1, "invalid_ids_sample": ["user-x"]}
    assert requests.post(fake.url + UPLOAD, data=json.dumps(good), auth=(KEY, SECRET),
                         headers={"Content-Type": "text/plain"}, timeout=5).status_code == 400


def test_fake_validates_membership(fake):
    cohort_id = fake.add_cohort("c1", USERS[:2])

    def body(**m):
        entry = {"ids": USERS[2:4], "id_type": "BY_NAME", "operation": "ADD", **m}
        return {"cohort_id": cohort_id, "count_group": "User", "memberships": [entry]}

    resp = raw_post(fake, MEMBERSHIP, body(id_type="BY_USER_ID"))  # the upload name is wrong here
    assert resp.status_code == 400 and "BY_NAME" in resp.json()["message"]
    for bad in (body(operation="DELETE"), body(ids=[]), body(ids=[f"u{i}" for i in range(100_001)]),
                {**body(), "memberships": []}, {**body(), "count_group": "Company"}, {"memberships": []}):
        assert raw_post(fake, MEMBERSHIP, bad).status_code == 400
    assert raw_post(fake, MEMBERSHIP, {**body(), "cohort_id": "nosuch1"}).status_code == 404
    two = {**body(), "memberships": [{"ids": USERS[2:4] + ["ghost-1"], "id_type": "BY_NAME", "operation": "ADD"},
                                     {"ids": USERS[:1], "id_type": "BY_NAME", "operation": "REMOVE"}]}
    resp = raw_post(fake, MEMBERSHIP, two)
    assert resp.status_code == 200 and resp.json() == {"cohort_id": cohort_id, "memberships_result": [
        {"skipped_ids": ["ghost-1"], "id_type": "BY_NAME", "operation": "ADD"},
        {"skipped_ids": [], "id_type": "BY_NAME", "operation": "REMOVE"}]}
    assert fake.cohorts[cohort_id]["members"] == {USERS[1], USERS[2], USERS[3]}
    by_id = body(id_type="BY_ID", ids=["987654"])
    assert raw_post(fake, MEMBERSHIP, by_id).json()["memberships_result"][0]["skipped_ids"] == []


def test_fake_state_includes_cohorts_and_reset_clears_them(fake):
    cohort_id = make_client(fake).upload("c1", USERS[:2])
    state = requests.get(fake.url + "/_fake/state", timeout=5).json()
    assert state["cohorts"][cohort_id]["members"] == USERS[:2] and state["cohorts"][cohort_id]["size"] == 2
    assert [(r["method"], r["path"], r["status"]) for r in state["cohort_requests"]] == [
        ("GET", LIST, 200), ("POST", UPLOAD, 200)]
    assert state["requests"] == []  # ingestion requests are logged apart
    fake.reset()
    assert fake.cohorts == {} and fake.cohort_requests == [] and fake.known_users == set()


def test_response_delay_applies_to_every_api_request():
    with FakeAmplitude(api_key=KEY, secret_key=SECRET, app_id=APP_ID, response_delay_s=0.3) as fake:
        started = time.monotonic()
        requests.get(fake.url + "/_fake/state", timeout=5)
        assert time.monotonic() - started < 0.25  # the fake's own endpoints are not delayed
        for call in (lambda: requests.get(fake.url + LIST, auth=(KEY, SECRET), timeout=5),
                     lambda: requests.post(fake.url + "/2/httpapi", json={"api_key": KEY, "events": [
                         {"event_type": "e", "user_id": "cust-00001"}]}, timeout=5)):
            started = time.monotonic()
            assert call().status_code == 200
            assert time.monotonic() - started >= 0.3
        with pytest.raises(AmplitudeUnavailableError):  # a client that gives up first never sees the answer
            make_client(fake, timeout_s=0.1, max_retry_seconds=0.15).list_cohorts()
