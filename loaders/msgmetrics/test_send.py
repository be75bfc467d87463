"""`msgmetrics test-send`: a small, clearly labelled set of test events and a property update
for a few internal profiles, then a check that they arrived.

Nothing here touches the ledger: test sends are not message activity. Verification uses
Amplitude's Dashboard REST API (user search, then user activity), which needs the secret key;
without it the check stops at "Amplitude accepted them".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

from .amplitude import AmplitudeClient, AmplitudeConfig

TEST_EVENT_TYPE = "[msgmetrics test] Email Link Clicked"
TEST_PROPERTY = "msgmetrics_test_send_at"
MAX_USERS = 10
USERSEARCH_PATH = "/api/2/usersearch"
USERACTIVITY_PATH = "/api/2/useractivity"


@dataclass
class TestSendResult:
    run_id: str
    users: list[str]
    accepted_events: int = 0
    accepted_identifies: int = 0
    rejected: list[str] = field(default_factory=list)
    verified: dict[str, bool] = field(default_factory=dict)  # user -> test event and property seen
    verification: str = ""

    @property
    def ok(self) -> bool:
        return not self.rejected and bool(self.verified) and all(self.verified.values())


def _events(users: list[str], run_id: str, now_ms: int) -> list[dict]:
    return [{"user_id": user, "event_type": TEST_EVENT_TYPE, "time": now_ms, "insert_id": f"msgmetrics-test-{run_id}-{user}",
             "event_properties": {"msgmetrics_test": True, "test_run": run_id}} for user in users]


def send_test(config: AmplitudeConfig, users: list[str], verify_timeout_s: float = 30.0,
              poll_s: float = 2.0) -> TestSendResult:
    if not users or len(users) > MAX_USERS:
        raise ValueError(f"test-send takes 1 to {MAX_USERS} internal user ids (--user), got {len(users)}")
    now = datetime.now(timezone.utc)
    run_id = now.strftime("%Y%m%dT%H%M%S")
    result = TestSendResult(run_id=run_id, users=list(users))
    events = _events(users, run_id, int(now.timestamp() * 1000))
    identifications = [{"user_id": u, "user_properties": {"$set": {TEST_PROPERTY: now.isoformat()}}} for u in users]

    def rejected(records, reason):
        result.rejected += [f"{r.get('user_id')}: {reason}" for r in records]

    with AmplitudeClient(config) as client:
        result.accepted_events = client.send_events(events, lambda c: None, rejected).accepted_events
        result.accepted_identifies = client.identify(identifications, lambda c: None, rejected).accepted_events
    if not config.secret_key:
        result.verification = "not verified: set AMPLITUDE_SECRET_KEY to look the users up in Amplitude"
        return result
    deadline = time.monotonic() + verify_timeout_s
    while True:
        result.verified = {u: _arrived(config, u, f"msgmetrics-test-{run_id}-{u}") for u in users}
        if all(result.verified.values()) or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    result.verification = (f"verified through {config.rest_url}{USERACTIVITY_PATH}" if result.ok
                           else "not all test events or properties are visible in Amplitude yet")
    return result


def _arrived(config: AmplitudeConfig, user_id: str, insert_id: str) -> bool:
    auth = (config.api_key, config.secret_key)
    found = requests.get(config.rest_url + USERSEARCH_PATH, params={"user": user_id}, auth=auth, timeout=30)
    if found.status_code != 200:
        return False
    matches = [m for m in found.json().get("matches", []) if m.get("user_id") == user_id]
    if not matches:
        return False
    activity = requests.get(config.rest_url + USERACTIVITY_PATH, params={"user": matches[0]["amplitude_id"]},
                            auth=auth, timeout=30)
    if activity.status_code != 200:
        return False
    body = activity.json()
    has_event = any(e.get("$insert_id") == insert_id for e in body.get("events", []))
    has_property = TEST_PROPERTY in (body.get("userData", {}).get("properties") or {})
    return has_event and has_property
