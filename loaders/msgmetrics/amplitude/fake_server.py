"""A strict local stand-in for Amplitude's ingestion and cohort APIs, for tests and the demo.

It enforces the documented contract (reference ``amplitude-apis.md`` §1-§4) more
strictly than Amplitude itself, so a client that passes here is safe there:

* ``POST /2/httpapi`` (<= 1 MB, <= 2000 events) and ``POST /batch`` (<= 20 MB,
  <= 2000 events): ``Content-Type: application/json``; ``Content-Encoding: gzip``
  accepted, limits counted on the decompressed body ("MB" = 10**6 bytes).
* ``POST /identify``: form-encoded ``api_key`` + ``identification`` (one JSON
  object or an array), optional ``options`` (``{"min_id_length": n}``);
  <= 1 MB and <= 1024 identifications (borrowed from Group Identify; Identify
  documents no limit).
* Per record: ``event_type`` required (events); ``user_id`` or ``device_id``
  required; ids must be strings, not a placeholder such as ``null`` / ``0`` /
  all zeros, and at least ``options.min_id_length`` (default 5) long - where
  Amplitude would strip a short id, this fake rejects it; ``time`` an integer;
  ``insert_id`` a string; ``session_id`` an integer; properties objects.
  A 400 lists *every* failing index and ingests nothing.
* Dedup on (device_id or user_id, insert_id); repeats count as ``duplicates_dropped``.
* Per user/device throughput (``eps_window_s``, off by default; the module entry point turns it
  on at 30 s): events per second per ``user_id`` and per ``device_id``, averaged over a sliding
  window, at most ``EPS_LIMITS`` (30 on ``/2/httpapi`` and ``/identify``, 1000 on ``/batch``). The
  events over the limit get 429 with ``throttled_users``/``throttled_devices``/``throttled_events``
  and nothing of that request is ingested.
* ``max_events_per_user_per_request``: a stricter stand-in for the same limit, per request.
* Concurrency is observed, not limited (Amplitude documents no cap): ``peak_concurrent_requests``
  and ``overlapping_requests`` (requests that arrived while another request carrying one of their
  users/devices was still being answered).
* Faults: a ``faults`` list consumed one per API request, cohort requests included
  (``None``/``"ok"`` = normal), or ``fault_rate`` random faults among
  429/500/ingest_then_500/503. ``ingest_then_500`` applies the request, then answers 500.
* ``response_delay_s``: sleep while answering every API request (not ``/_fake/*``), like the
  round trip to Amplitude; an ingestion request waits after its body was read, so it counts as in flight.

Behavioral Cohorts API (§4), HTTP Basic ``api_key:secret_key`` (else 401
``{"error": "Invalid credentials"}``):

* ``GET /api/3/cohorts`` -> ``{"cohorts": [{"appId", "id", "name", "owners", "published",
  "size", "archived", ...}]}``.
* ``POST /api/3/cohorts/upload``: ``name``, ``app_id`` (must be this project's),
  ``id_type`` (``BY_USER_ID``/``BY_AMP_ID``), ``ids`` (non-empty), ``owner`` (an email),
  ``published`` required; ``skip_invalid_ids`` (default true), ``skip_save``, ``cg``,
  ``existing_cohort_id`` (replaces the whole membership; unknown id -> 404).
* ``POST /api/3/cohorts/membership``: ``cohort_id``, ``memberships`` of
  ``{ids, id_type: BY_NAME|BY_ID, operation: ADD|REMOVE}`` applied in order;
  ``BY_USER_ID`` here is a 400, as on Amplitude.
* At most 100,000 ids per request (400). Ids are valid when the fake has seen the
  user id in an accepted event or identification (``cohort_requires_known_users``,
  or :meth:`FakeAmplitude.add_known_users`); invalid ids are skipped and reported
  (``invalid_ids_sample`` / ``skipped_ids``), or fail the request when
  ``skip_invalid_ids`` is false. An upload with no valid id is a 400.
* A membership change or replace for a cohort that another request is changing
  right now gets 429; ``cohort_delay_s`` widens that window so tests can provoke it.
* Error bodies: ``{"http_code", "type", "message", "metadata"}``.

Run ``python -m msgmetrics.amplitude.fake_server --port 8765 --api-key demo-key``;
``GET /_fake/state`` returns counts, user properties and cohorts as JSON.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MB = 1_000_000
# Events per second per user_id / device_id, averaged over the window (reference §1.4, §2, §3).
EPS_LIMITS = {"/2/httpapi": 30, "/batch": 1000, "/identify": 30}
DEFAULT_EPS_WINDOW_S = 30.0
LIMITS = {"/2/httpapi": (1 * MB, 2000), "/batch": (20 * MB, 2000), "/identify": (1 * MB, 1024)}
MAX_READ_BYTES = 64 * MB
FAULTS = ("429", "500", "ingest_then_500", "503", "timeout", "invalid_key", "413", "403")
RANDOM_FAULTS = ("429", "500", "ingest_then_500", "503")
BLOCKED_IDS = {
    "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "", "0", "-1",
    "00000000-0000-0000-0000-000000000000", "{}", "lmy47d",
}
_ALL_ZEROS = re.compile(r"^[0\-]+$")
PROPERTY_OPS = ("$set", "$setOnce", "$add", "$append", "$prepend", "$preInsert", "$postInsert", "$remove", "$unset")
MAX_DEPTH = 40
COHORTS_PATH = "/api/3/cohorts"
USERSEARCH_PATH = "/api/2/usersearch"
USERACTIVITY_PATH = "/api/2/useractivity"
COHORT_UPLOAD_PATH = "/api/3/cohorts/upload"
COHORT_MEMBERSHIP_PATH = "/api/3/cohorts/membership"
UPLOAD_ID_TYPES = ("BY_USER_ID", "BY_AMP_ID")
MEMBERSHIP_ID_TYPES = ("BY_NAME", "BY_ID")
MEMBERSHIP_OPERATIONS = ("ADD", "REMOVE")
MAX_COHORT_IDS_PER_REQUEST = 100_000
MAX_COHORT_SIZE = 2_000_000
INVALID_SAMPLE_SIZE = 100
_COHORT_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class RequestRecord:
    path: str
    status: int
    n_events: int
    options: dict | None = None
    gzipped: bool = False
    body_bytes: int = 0  # decompressed
    insert_ids: list = field(default_factory=list)
    fault: str | None = None


@dataclass
class CohortRequestRecord:
    """One request to a cohort endpoint, logged when answered.

    ``operations`` is ``[(operation, n_ids), ...]``: membership operations in request order
    (``ADD``/``REMOVE``), or one ``CREATE``/``REPLACE`` for an upload. ``skipped`` counts the
    ids reported as invalid; ``concurrent`` is true for a 429 caused by another in-flight
    request for the same cohort.
    """

    method: str
    path: str
    status: int = 0
    cohort_id: str | None = None
    name: str | None = None
    operations: list = field(default_factory=list)
    n_ids: int = 0
    skipped: int = 0
    fault: str | None = None
    concurrent: bool = False


def _reply(status: int, error: str, **extra: Any) -> tuple[int, dict]:
    return status, {"code": status, "error": error, **extra}


def _cohort_error(status: int, kind: str, message: str, **metadata: Any) -> tuple[int, dict]:
    return status, {"http_code": status, "type": kind, "message": message, "metadata": metadata}


def _describe(path: str, body: dict, rec: "CohortRequestRecord") -> None:
    """Fill the log record from a cohort request body, leniently (before any validation)."""
    def size(value: Any) -> int:
        return len(value) if isinstance(value, list) else 0

    if path == COHORT_UPLOAD_PATH:
        existing = body.get("existing_cohort_id")
        rec.cohort_id = existing if isinstance(existing, str) else None
        rec.name = body.get("name") if isinstance(body.get("name"), str) else None
        rec.n_ids = size(body.get("ids"))
        rec.operations = [("REPLACE" if existing else "CREATE", rec.n_ids)]
    elif path == COHORT_MEMBERSHIP_PATH:
        rec.cohort_id = body.get("cohort_id") if isinstance(body.get("cohort_id"), str) else None
        entries = body.get("memberships") if isinstance(body.get("memberships"), list) else []
        rec.operations = [(m.get("operation"), size(m.get("ids"))) for m in entries if isinstance(m, dict)]
        rec.n_ids = sum(n for _, n in rec.operations)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _id_problem(value: Any, min_len: int) -> str | None:
    """'invalid' / 'length' / None for a user_id or device_id value that is present."""
    if not isinstance(value, str):
        return "invalid"  # numbers returned 200 but vanished in Amplitude (Node #63)
    if value.strip().lower() in BLOCKED_IDS or _ALL_ZEROS.match(value):
        return "invalid"
    if len(value) < min_len:
        return "length"
    return None


def _validate(records: list, is_event: bool, min_len: int) -> dict:
    """Index maps for every failing record; an empty dict when all are fine."""
    maps: dict[str, dict[str, list[int]]] = {}

    def add(kind: str, name: str, i: int) -> None:
        maps.setdefault(kind, {}).setdefault(name, []).append(i)

    for i, rec in enumerate(records):
        if is_event:
            if rec.get("event_type") in (None, ""):
                add("events_with_missing_fields", "event_type", i)
            elif not isinstance(rec["event_type"], str):
                add("events_with_invalid_fields", "event_type", i)
        if rec.get("user_id") is None and rec.get("device_id") is None:
            add("events_with_missing_fields", "user_id", i)
        for name in ("user_id", "device_id"):
            if rec.get(name) is not None:
                problem = _id_problem(rec[name], min_len)
                if problem == "length":
                    add("events_with_invalid_id_lengths", name, i)
                elif problem:
                    add("events_with_invalid_fields", name, i)
        for name in ("time", "session_id", "event_id"):
            if name in rec and not _is_int(rec[name]):
                add("events_with_invalid_fields", name, i)
        if "insert_id" in rec and not (isinstance(rec["insert_id"], str) and rec["insert_id"]):
            add("events_with_invalid_fields", "insert_id", i)
        for name in ("event_properties", "user_properties", "groups", "group_properties"):
            value = rec.get(name)
            if value is not None and (not isinstance(value, dict) or _depth(value) > MAX_DEPTH):
                add("events_with_invalid_fields", name, i)
            elif name == "user_properties" and value and not _ops_ok(value, allow_plain=is_event):
                add("events_with_invalid_fields", name, i)
    return maps


def _ops_ok(props: dict, allow_plain: bool) -> bool:
    ops = [k for k in props if k.startswith("$")]
    if not ops:
        return True
    if any(k not in PROPERTY_OPS for k in ops) or not all(isinstance(props[k], dict) for k in ops):
        return False
    return allow_plain or len(ops) == len(props)  # identify: once an operation is used, only operations


def apply_user_properties(current: dict, props: dict) -> None:
    """Apply Amplitude's property operations to ``current`` in place."""
    if not any(k.startswith("$") for k in props):
        props = {"$set": props}
    ops = {op: dict(props.get(op) or {}) for op in PROPERTY_OPS}
    for key, value in props.items():
        if not key.startswith("$"):
            ops["$set"][key] = value  # plain keys beside operations (events only) are $set
    current.update(ops["$set"])
    for key, value in ops["$setOnce"].items():
        current.setdefault(key, value)
    for key, value in ops["$add"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            base = current.get(key, 0)
            current[key] = (base if isinstance(base, (int, float)) else 0) + value
    for op in ("$append", "$prepend", "$preInsert", "$postInsert"):
        for key, value in ops[op].items():
            items = value if isinstance(value, list) else [value]
            old = current.get(key, [])
            old = old if isinstance(old, list) else [old]
            if op in ("$preInsert", "$postInsert"):
                items = [v for v in items if v not in old]
            current[key] = items + old if op in ("$prepend", "$preInsert") else old + items
    for key, value in ops["$remove"].items():
        drop = value if isinstance(value, list) else [value]
        if isinstance(current.get(key), list):
            current[key] = [v for v in current[key] if v not in drop]
    for key in ops["$unset"]:
        current.pop(key, None)


class FakeAmplitude:
    """Strict fake Amplitude ingestion server on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        min_id_length_default: int = 5,
        faults: list[str | None] | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        timeout_sleep_s: float = 2.0,
        max_events_per_user_per_request: int | None = None,
        secret_key: str = "test-secret",
        app_id: int = 123456,
        response_delay_s: float = 0.0,
        cohort_delay_s: float = 0.0,
        cohort_requires_known_users: bool = True,
        eps_window_s: float | None = None,
    ):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("FakeAmplitude binds 127.0.0.1 only")
        for fault in faults or []:
            if fault not in FAULTS and fault not in (None, "ok"):
                raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        self.api_key = api_key
        self.host, self.port = "127.0.0.1", port
        self.min_id_length_default = min_id_length_default
        self.fault_rate = fault_rate
        self.timeout_sleep_s = timeout_sleep_s
        self.max_events_per_user_per_request = max_events_per_user_per_request
        self.secret_key = secret_key
        self.app_id = app_id
        self.response_delay_s = response_delay_s  # before answering every API request
        self.cohort_delay_s = cohort_delay_s  # inside the "cohort being changed" window
        self.cohort_requires_known_users = cohort_requires_known_users
        self.eps_window_s = eps_window_s
        self._cohort_rng = random.Random(seed)
        self._faults = deque(faults or [])
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle --------------------------------------------------------

    def start(self) -> "FakeAmplitude":
        self._stopping.clear()
        self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-amplitude", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeAmplitude":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- inspection -------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._events: list[dict] = []
            self._seen: set[tuple[str, str]] = set()
            self._duplicates = 0
            self._user_properties: dict[str, dict] = {}
            self._identifications: list[dict] = []
            self._requests: list[RequestRecord] = []
            self._known_users: set[str] = set()
            self._cohorts: dict[str, dict] = {}
            self._cohort_requests: list[CohortRequestRecord] = []
            self._cohorts_in_flight: set[str] = set()
            self._recent: dict[tuple[str, str, str], deque] = {}  # (path, kind, id) -> (time, n)
            self._inflight_keys: dict[int, set] = {}  # id(record) -> keys of a request being answered
            self._concurrent = 0
            self._peak_concurrent = 0
            self._overlapping = 0

    def add_faults(self, *faults: str | None) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return list(self._events)

    @property
    def event_count(self) -> int:
        with self._lock:
            return len(self._events)

    @property
    def distinct_insert_ids(self) -> int:
        with self._lock:
            return len({e["insert_id"] for e in self._events if "insert_id" in e})

    @property
    def duplicates_dropped(self) -> int:
        with self._lock:
            return self._duplicates

    @property
    def peak_concurrent_requests(self) -> int:
        """Most ingestion requests ever being answered at the same time."""
        with self._lock:
            return self._peak_concurrent

    @property
    def overlapping_requests(self) -> int:
        """Requests that shared a user/device with another request being answered at the same time."""
        with self._lock:
            return self._overlapping

    @property
    def user_properties(self) -> dict[str, dict]:
        with self._lock:
            return json.loads(json.dumps(self._user_properties))

    @property
    def identifications(self) -> list[dict]:
        with self._lock:
            return list(self._identifications)

    @property
    def requests(self) -> list[tuple[str, int, int]]:
        with self._lock:
            return [(r.path, r.status, r.n_events) for r in self._requests]

    @property
    def request_records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def cohorts(self) -> dict[str, dict]:
        """Cohort id -> {name, owner, published, archived, count_group, members: set} (a copy)."""
        with self._lock:
            return {cid: {**c, "members": set(c["members"])} for cid, c in self._cohorts.items()}

    @property
    def cohort_requests(self) -> list[CohortRequestRecord]:
        with self._lock:
            return list(self._cohort_requests)

    @property
    def cohorts_in_flight(self) -> set[str]:
        """Ids of the cohorts a request is changing right now."""
        with self._lock:
            return set(self._cohorts_in_flight)

    @property
    def known_users(self) -> set[str]:
        with self._lock:
            return set(self._known_users)

    def add_known_users(self, *user_ids: str) -> None:
        """Make user ids valid for cohorts without sending them an event or identify."""
        with self._lock:
            self._known_users.update(user_ids)

    def add_cohort(self, name: str, members: Any = (), owner: str = "owner@example.com",
                   published: bool = True, archived: bool = False) -> str:
        """Create a cohort directly (as if made in the UI); its members become known users."""
        with self._lock:
            cohort_id = self._new_cohort_id()
            self._cohorts[cohort_id] = self._new_cohort(name, owner, published, set(members))
            self._cohorts[cohort_id]["archived"] = archived
            self._known_users.update(members)
            return cohort_id

    def archive_cohort(self, cohort_id: str) -> None:
        with self._lock:
            self._cohorts[cohort_id]["archived"] = True

    def state(self) -> dict:
        with self._lock:
            return {
                "cohorts": {
                    cid: {**c, "members": sorted(c["members"]), "size": len(c["members"])}
                    for cid, c in self._cohorts.items()
                },
                "cohort_requests": [asdict(r) for r in self._cohort_requests],
                "event_count": len(self._events),
                "distinct_insert_ids": len({e["insert_id"] for e in self._events if "insert_id" in e}),
                "duplicates_dropped": self._duplicates,
                "peak_concurrent_requests": self._peak_concurrent,
                "overlapping_requests": self._overlapping,
                "identifications": len(self._identifications),
                "user_properties": json.loads(json.dumps(self._user_properties)),
                "requests": [asdict(r) | {"insert_ids": len(r.insert_ids)} for r in self._requests],
            }

    # -- request handling ---------------------------------------------------

    def handle(self, path: str, headers: Any, raw: bytes, method: str = "POST") -> tuple[int, Any]:
        """Answer one API request; returns (status, JSON-able body or str). Records the request."""
        if path == COHORTS_PATH or path.startswith(COHORTS_PATH + "/"):
            self._pause()
            return self._handle_cohort_request(method, path, headers, raw)
        record = RequestRecord(path=path, status=0, n_events=0)
        with self._lock:
            self._concurrent += 1
            self._peak_concurrent = max(self._peak_concurrent, self._concurrent)
        try:
            status, body = self._handle(path, headers, raw, record)
        except Exception as exc:  # a bug in the fake should surface as a 500, not a hung client
            status, body = _reply(500, f"fake server error: {exc!r}")
        finally:
            if id(record) not in self._inflight_keys:  # answered before its records were read
                self._pause()
            with self._lock:
                self._concurrent -= 1
                self._inflight_keys.pop(id(record), None)
        record.status = status
        with self._lock:
            self._requests.append(record)
        return status, body

    def _pause(self) -> None:
        if self.response_delay_s > 0:
            self._stopping.wait(self.response_delay_s)

    def _enter(self, record: RequestRecord, records: list) -> None:
        """Note the users/devices of a request being answered; count an overlap with another one."""
        keys = set()
        for r in records:
            if isinstance(r, dict):
                for kind, name in (("user", "user_id"), ("device", "device_id")):
                    if r.get(name) is not None:
                        keys.add((kind, str(r[name])))
        with self._lock:
            if any(keys & other for other in self._inflight_keys.values()):
                self._overlapping += 1
            self._inflight_keys[id(record)] = keys

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                fault = self._faults.popleft()
                return None if fault == "ok" else fault
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(RANDOM_FAULTS)
        return None

    def _handle(self, path: str, headers: Any, raw: bytes, rec: RequestRecord) -> tuple[int, Any]:
        if path not in LIMITS:
            return _reply(400, "Invalid request path")
        max_bytes, max_records = LIMITS[path]
        rec.fault = fault = self._next_fault()
        if headers.get("Content-Encoding", "").lower() == "gzip":
            rec.gzipped = True
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                return _reply(400, "Invalid JSON request body")
        rec.body_bytes = len(raw)
        is_identify = path == "/identify"
        ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
        wanted = "application/x-www-form-urlencoded" if is_identify else "application/json"
        if ctype != wanted:
            return _reply(400, f"Invalid Content-Type: expected {wanted}")
        if not raw:
            return _reply(400, "Missing request body")
        if len(raw) > max_bytes:
            return _reply(413, "Payload too large")
        parsed = self._parse_identify(raw) if is_identify else self._parse_events(raw)
        if isinstance(parsed[0], int):
            return parsed
        api_key, records, options = parsed
        rec.options, rec.n_events = options, len(records)
        rec.insert_ids = [r.get("insert_id") for r in records if isinstance(r, dict)]
        self._enter(rec, records)
        self._pause()  # the request's users count as in flight while it waits
        if api_key != self.api_key or fault == "invalid_key":
            return _reply(400, f"Invalid API key: {api_key}")
        if fault == "403":
            return _reply(403, "Forbidden")
        if len(records) > max_records or fault == "413":
            return _reply(413, "Payload too large")
        if not all(isinstance(r, dict) for r in records):
            return _reply(400, "Invalid event JSON" if not is_identify else "missing_event")
        if fault in ("429", "500", "503", "timeout"):
            return self._fault_reply(fault, records)
        min_len = options.get("min_id_length", self.min_id_length_default) if options else self.min_id_length_default
        if not _is_int(min_len) or min_len < 1:
            return _reply(400, "Invalid field values on some events",
                          missing_field="options.min_id_length")
        maps = _validate(records, is_event=not is_identify, min_len=min_len)
        if maps:
            only_lengths = set(maps) == {"events_with_invalid_id_lengths"}
            error = "Invalid id length for user_id or device_id" if only_lengths else "Invalid field values on some events"
            return _reply(400, error, **maps)
        throttled = self._over_user_limit(records) or self._over_eps(path, records)
        if throttled:
            return throttled
        answer = self._ingest_identify(records) if is_identify else self._ingest_events(records, len(raw))
        if fault == "ingest_then_500":
            return _reply(500, "Internal server error")
        return answer

    def _parse_events(self, raw: bytes) -> tuple:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _reply(400, "Invalid JSON request body")
        if not isinstance(body, dict):
            return _reply(400, "Invalid JSON request body")
        for name in ("api_key", "events"):
            if name not in body:
                return _reply(400, "Request missing required field", missing_field=name)
        options = body.get("options")
        if not isinstance(body["events"], list) or (options is not None and not isinstance(options, dict)):
            return _reply(400, "Invalid event JSON")
        return body["api_key"], body["events"], options

    def _parse_identify(self, raw: bytes) -> tuple:
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _reply(400, "Invalid request body")
        if "api_key" not in form:
            return _reply(400, "Request missing required field", missing_field="api_key")
        try:
            ident = json.loads(form["identification"][0])
            options = json.loads(form["options"][0]) if "options" in form else None
        except (KeyError, ValueError):
            return _reply(400, "missing_event", missing_field="identification")
        records = ident if isinstance(ident, list) else [ident]
        if not records or (options is not None and not isinstance(options, dict)):
            return _reply(400, "missing_event", missing_field="identification")
        return form["api_key"][0], records, options

    def _fault_reply(self, fault: str, records: list[dict]) -> tuple[int, Any]:
        if fault == "429":
            first = records[0] if records else {}
            users = {str(first["user_id"]): 31} if first.get("user_id") is not None else {}
            devices = {} if users or first.get("device_id") is None else {str(first["device_id"]): 31}
            return _reply(429, "Too many requests for some devices and users", eps_threshold=30,
                          throttled_devices=devices, throttled_users=users,
                          throttled_events=[0] if records else [])
        if fault == "timeout":
            self._stopping.wait(self.timeout_sleep_s)
            return _reply(504, "Gateway timeout")
        if fault == "503":
            return _reply(503, "Service unavailable")
        return _reply(500, "Internal server error")

    def _over_user_limit(self, records: list[dict]) -> tuple[int, dict] | None:
        limit = self.max_events_per_user_per_request
        if limit is None:
            return None
        seen: dict[str, int] = {}
        over: list[int] = []
        for i, r in enumerate(records):
            who = str(r.get("user_id") if r.get("user_id") is not None else r.get("device_id"))
            seen[who] = seen.get(who, 0) + 1
            if seen[who] > limit:
                over.append(i)  # only the events beyond the limit are throttled
        if not over:
            return None
        users = {str(records[i].get("user_id")): seen[str(records[i].get("user_id"))]
                 for i in over if records[i].get("user_id") is not None}
        return _reply(429, "Too many requests for some devices and users", eps_threshold=limit,
                      throttled_devices={}, throttled_users=users, throttled_events=over)

    def _over_eps(self, path: str, records: list[dict]) -> tuple[int, dict] | None:
        """429 for the records that would take a user or device over EPS_LIMITS[path] events per
        second averaged over eps_window_s; otherwise count the request's records and pass."""
        window = self.eps_window_s
        if not window:
            return None
        allowed = EPS_LIMITS[path] * window
        now = time.monotonic()
        with self._lock:
            counts: dict[tuple[str, str, str], int] = {}  # events in the window before this request

            def used(key: tuple[str, str, str]) -> int:
                if key not in counts:
                    recent = self._recent.get(key)
                    while recent and recent[0][0] <= now - window:
                        recent.popleft()
                    counts[key] = sum(n for _, n in recent) if recent else 0
                return counts[key]

            over: list[int] = []
            added: dict[tuple[str, str, str], int] = {}
            users: dict[str, int] = {}
            devices: dict[str, int] = {}
            for i, r in enumerate(records):
                keys = [(path, kind, str(r[name])) for kind, name in (("user", "user_id"), ("device", "device_id"))
                        if r.get(name) is not None]
                if any(used(k) + added.get(k, 0) + 1 > allowed for k in keys):
                    over.append(i)
                    for k in keys:
                        (users if k[1] == "user" else devices)[k[2]] = used(k) + added.get(k, 0) + 1
                    continue
                for k in keys:
                    added[k] = added.get(k, 0) + 1
            if over:
                return _reply(429, "Too many requests for some devices and users", eps_threshold=EPS_LIMITS[path],
                              throttled_devices=devices, throttled_users=users, throttled_events=over)
            for key, n in added.items():
                self._recent.setdefault(key, deque()).append((now, n))
        return None

    def _ingest_events(self, events: list[dict], size: int) -> tuple[int, dict]:
        with self._lock:
            for event in events:
                insert_id = event.get("insert_id")
                if insert_id is not None:
                    key = (str(event.get("device_id") or event.get("user_id")), insert_id)
                    if key in self._seen:
                        self._duplicates += 1
                        continue
                    self._seen.add(key)
                self._events.append(event)
                if event.get("user_id") is not None:
                    self._known_users.add(str(event["user_id"]))
                if event.get("user_properties"):  # plain keys are $set; operations as on /identify
                    who = str(event.get("user_id") or event.get("device_id"))
                    apply_user_properties(self._user_properties.setdefault(who, {}), event["user_properties"])
        return 200, {"code": 200, "events_ingested": len(events), "payload_size_bytes": size,
                     "server_upload_time": int(time.time() * 1000)}

    def _ingest_identify(self, identifications: list[dict]) -> tuple[int, str]:
        with self._lock:
            for ident in identifications:
                self._identifications.append(ident)
                if ident.get("user_id") is not None:
                    self._known_users.add(str(ident["user_id"]))
                who = str(ident.get("user_id") or ident.get("device_id"))
                props = ident.get("user_properties") or {}
                apply_user_properties(self._user_properties.setdefault(who, {}), props)
        return 200, "success"

    # -- Behavioral Cohorts API (reference §4) -------------------------------------

    def _handle_cohort_request(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        record = CohortRequestRecord(method=method, path=path)
        try:
            status, body = self._cohort(method, path, headers, raw, record)
        except Exception as exc:  # a bug in the fake should surface as a 500, not a hung client
            status, body = _cohort_error(500, "internal_error", f"fake server error: {exc!r}")
        record.status = status
        with self._lock:
            self._cohort_requests.append(record)
        return status, body

    def dashboard(self, path: str, query: dict, headers: Any) -> tuple[int, Any]:
        """Dashboard REST user lookups: GET /api/2/usersearch?user=ID and
        /api/2/useractivity?user=AMPLITUDE_ID (Basic auth api_key:secret_key)."""
        if not self._authorized(headers):
            return 401, {"error": "Invalid credentials"}
        user = (query.get("user") or [""])[0]
        with self._lock:
            known = sorted({e.get("user_id") for e in self._events if e.get("user_id")} | set(self._user_properties))
            amplitude_ids = {u: 1000 + i for i, u in enumerate(known)}
            if path == USERSEARCH_PATH:
                matches = [{"user_id": user, "amplitude_id": amplitude_ids[user]}] if user in amplitude_ids else []
                return 200, {"matches": matches, "type": "match_user_or_device_id"}
            by_id = {str(a): u for u, a in amplitude_ids.items()}
            user_id = by_id.get(user)
            if user_id is None:
                return 400, {"error": "Invalid amplitude id"}
            events = [{"event_type": e["event_type"], "$insert_id": e.get("insert_id"), "user_id": user_id,
                       "event_time": e.get("time"), "event_properties": e.get("event_properties", {})}
                      for e in self._events if e.get("user_id") == user_id]
            return 200, {"userData": {"user_id": user_id, "amplitude_id": int(user),
                                      "properties": dict(self._user_properties.get(user_id, {}))},
                         "events": list(reversed(events))}

    def _authorized(self, headers: Any) -> bool:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            return False
        key, sep, secret = decoded.partition(":")
        return bool(sep) and key == self.api_key and secret == self.secret_key

    def _cohort(self, method: str, path: str, headers: Any, raw: bytes, rec: CohortRequestRecord) -> tuple[int, Any]:
        routes = {
            ("GET", COHORTS_PATH): self._list_cohorts,
            ("POST", COHORT_UPLOAD_PATH): self._upload_cohort,
            ("POST", COHORT_MEMBERSHIP_PATH): self._cohort_membership,
        }
        route = routes.get((method, path))
        if route is None:
            return _cohort_error(404, "not_found", f"No such endpoint: {method} {path}")
        rec.fault = fault = self._next_fault()
        if not self._authorized(headers) or fault == "invalid_key":
            return 401, {"error": "Invalid credentials"}
        body: dict = {}
        if method == "POST":
            ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _cohort_error(400, "invalid_request", "Invalid Content-Type: expected application/json")
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _cohort_error(400, "invalid_request", "Invalid JSON request body")
            if not isinstance(body, dict):
                return _cohort_error(400, "invalid_request", "Invalid JSON request body")
            _describe(path, body, rec)
        if fault == "403":
            return _cohort_error(403, "forbidden", "Forbidden")
        if fault == "413":
            return _cohort_error(413, "payload_too_large", "Payload too large")
        if fault == "429":
            return _cohort_error(429, "too_many_requests", "Too many requests")
        if fault == "timeout":
            self._stopping.wait(self.timeout_sleep_s)
            return _cohort_error(504, "gateway_timeout", "Gateway timeout")
        if fault in ("500", "503"):
            return _cohort_error(int(fault), "server_error",
                                 "Internal server error" if fault == "500" else "Service unavailable")
        status, answer = route(body, rec)
        if fault == "ingest_then_500" and status == 200:
            return _cohort_error(500, "server_error", "Internal server error")
        return status, answer

    def _list_cohorts(self, body: dict, rec: CohortRequestRecord) -> tuple[int, dict]:
        with self._lock:
            cohorts = [
                {"appId": self.app_id, "id": cid, "name": c["name"], "owners": [c["owner"]],
                 "published": c["published"], "size": len(c["members"]), "type": "static",
                 "lastMod": c["last_mod"], "lastComputed": c["last_mod"], "archived": c["archived"],
                 "description": "", "definition": {"countGroup": c["count_group"]}}
                for cid, c in self._cohorts.items()
            ]
        return 200, {"cohorts": cohorts}

    def _new_cohort_id(self) -> str:
        while True:
            cohort_id = "".join(self._cohort_rng.choice(_COHORT_ID_CHARS) for _ in range(7))
            if cohort_id not in self._cohorts:
                return cohort_id

    @staticmethod
    def _new_cohort(name: str, owner: str, published: bool, members: set) -> dict:
        return {"name": name, "owner": owner, "published": published, "archived": False,
                "count_group": "User", "members": members, "last_mod": int(time.time())}

    def _invalid_ids(self, ids: list[str], id_type: str) -> list[str]:
        """The ids Amplitude would call invalid: unknown user ids, non-numeric Amplitude ids."""
        if id_type in ("BY_AMP_ID", "BY_ID"):
            return [i for i in ids if not i.isdigit()]
        with self._lock:
            known = self._known_users
            if self.cohort_requires_known_users:
                return [i for i in ids if i not in known]
            return [i for i in ids if i.strip().lower() in BLOCKED_IDS]

    def _claim(self, cohort_id: str, rec: CohortRequestRecord) -> tuple[int, dict] | None:
        """Mark ``cohort_id`` as being changed; an error reply if unknown or already being changed."""
        with self._lock:
            if cohort_id not in self._cohorts:
                return _cohort_error(404, "not_found", f"Cohort {cohort_id} not found", cohort_id=cohort_id)
            if cohort_id in self._cohorts_in_flight:
                rec.concurrent = True
                return _cohort_error(429, "too_many_requests",
                                     f"Cohort {cohort_id} is being modified by another request; retry later",
                                     cohort_id=cohort_id)
            self._cohorts_in_flight.add(cohort_id)
        return None

    def _release(self, cohort_id: str) -> None:
        with self._lock:
            self._cohorts_in_flight.discard(cohort_id)

    def _upload_cohort(self, body: dict, rec: CohortRequestRecord) -> tuple[int, dict]:
        for name in ("name", "app_id", "id_type", "ids", "owner", "published"):
            if name not in body:
                return _cohort_error(400, "invalid_request", f"Missing required field: {name}", field=name)
        name, app_id, id_type, ids = body["name"], body["app_id"], body["id_type"], body["ids"]
        owner, published = body["owner"], body["published"]
        skip_invalid = body.get("skip_invalid_ids", True)
        skip_save = body.get("skip_save", False)
        existing = body.get("existing_cohort_id")
        if not isinstance(name, str) or not name.strip():
            return _cohort_error(400, "invalid_request", "name must be a non-empty string", field="name")
        if not _is_int(app_id) or app_id != self.app_id:
            return _cohort_error(400, "invalid_request", f"app_id {app_id!r} is not this project's id",
                                 field="app_id")
        if id_type not in UPLOAD_ID_TYPES:
            hint = " (BY_NAME/BY_ID are for the membership endpoint)" if id_type in MEMBERSHIP_ID_TYPES else ""
            return _cohort_error(400, "invalid_request",
                                 f"Invalid id_type {id_type!r}: expected one of {', '.join(UPLOAD_ID_TYPES)}{hint}",
                                 field="id_type")
        if not _is_str_list(ids):
            return _cohort_error(400, "invalid_request", "ids must be an array of strings", field="ids")
        if not isinstance(owner, str) or "@" not in owner:
            return _cohort_error(400, "invalid_request", "owner must be the login email of an Amplitude user",
                                 field="owner")
        for flag, value in (("published", published), ("skip_invalid_ids", skip_invalid), ("skip_save", skip_save)):
            if not isinstance(value, bool):
                return _cohort_error(400, "invalid_request", f"{flag} must be a boolean", field=flag)
        if body.get("cg") not in (None, "User"):
            return _cohort_error(400, "invalid_request", "this fake supports the User count group only", field="cg")
        if existing is not None and not (isinstance(existing, str) and existing):
            return _cohort_error(400, "invalid_request", "existing_cohort_id must be a cohort id string",
                                 field="existing_cohort_id")
        if not ids:
            return _cohort_error(400, "invalid_request", "ids must contain at least one valid id", field="ids")
        if len(ids) > MAX_COHORT_IDS_PER_REQUEST:
            return _cohort_error(400, "invalid_request",
                                 f"Single requests are limited to {MAX_COHORT_IDS_PER_REQUEST:,} identifiers",
                                 field="ids")
        invalid = self._invalid_ids(ids, id_type)
        rec.skipped = len(invalid)
        bad = set(invalid)
        valid = [i for i in ids if i not in bad]
        sample = list(dict.fromkeys(invalid))[:INVALID_SAMPLE_SIZE]
        if invalid and not skip_invalid:
            return _cohort_error(400, "invalid_request", f"{len(invalid)} invalid ids (skip_invalid_ids is false)",
                                 invalid_ids_sample=sample)
        if not valid:
            return _cohort_error(400, "invalid_request", "ids must contain at least one valid id",
                                 invalid_ids_sample=sample)
        metadata = {"matched": len(valid), "totals": len(set(valid)), "invalid_ids_sample": sample}
        if skip_save:
            return 200, {"cohortId": existing, "metadata": metadata}
        if existing is None:
            if self.cohort_delay_s > 0:
                self._stopping.wait(self.cohort_delay_s)
            with self._lock:
                cohort_id = self._new_cohort_id()
                self._cohorts[cohort_id] = self._new_cohort(name, owner, published, set(valid))
            rec.cohort_id = cohort_id
            return 200, {"cohortId": cohort_id, "metadata": metadata}
        refused = self._claim(existing, rec)
        if refused:
            return refused
        try:
            if self.cohort_delay_s > 0:
                self._stopping.wait(self.cohort_delay_s)
            with self._lock:
                cohort = self._cohorts[existing]
                cohort.update(name=name, owner=owner, published=published, members=set(valid),
                              last_mod=int(time.time()))
        finally:
            self._release(existing)
        return 200, {"cohortId": existing, "metadata": metadata}

    def _cohort_membership(self, body: dict, rec: CohortRequestRecord) -> tuple[int, dict]:
        for name in ("cohort_id", "memberships"):
            if name not in body:
                return _cohort_error(400, "invalid_request", f"Missing required field: {name}", field=name)
        cohort_id, memberships = body["cohort_id"], body["memberships"]
        count_group = body.get("count_group", "User")
        skip_invalid = body.get("skip_invalid_ids", True)
        if not isinstance(cohort_id, str) or not cohort_id:
            return _cohort_error(400, "invalid_request", "cohort_id must be a string", field="cohort_id")
        if not isinstance(skip_invalid, bool):
            return _cohort_error(400, "invalid_request", "skip_invalid_ids must be a boolean",
                                 field="skip_invalid_ids")
        if not isinstance(memberships, list) or not memberships:
            return _cohort_error(400, "invalid_request", "memberships must be a non-empty array",
                                 field="memberships")
        for m in memberships:
            if not isinstance(m, dict):
                return _cohort_error(400, "invalid_request", "each membership must be an object", field="memberships")
            if m.get("id_type") not in MEMBERSHIP_ID_TYPES:
                hint = (" (BY_USER_ID/BY_AMP_ID are for upload; use BY_NAME for user ids)"
                        if m.get("id_type") in UPLOAD_ID_TYPES else "")
                return _cohort_error(400, "invalid_request",
                                     f"Invalid id_type {m.get('id_type')!r}: expected BY_NAME or BY_ID{hint}",
                                     field="id_type")
            if m.get("operation") not in MEMBERSHIP_OPERATIONS:
                return _cohort_error(400, "invalid_request",
                                     f"Invalid operation {m.get('operation')!r}: expected ADD or REMOVE",
                                     field="operation")
            if not _is_str_list(m.get("ids")) or not m["ids"]:
                return _cohort_error(400, "invalid_request", "ids must be a non-empty array of strings", field="ids")
        if sum(len(m["ids"]) for m in memberships) > MAX_COHORT_IDS_PER_REQUEST:
            return _cohort_error(400, "invalid_request",
                                 f"Single requests are limited to {MAX_COHORT_IDS_PER_REQUEST:,} identifiers",
                                 field="ids")
        skipped = [self._invalid_ids(m["ids"], m["id_type"]) for m in memberships]
        rec.skipped = sum(len(s) for s in skipped)
        if rec.skipped and not skip_invalid:
            sample = [i for s in skipped for i in s][:INVALID_SAMPLE_SIZE]
            return _cohort_error(400, "invalid_request", f"{rec.skipped} invalid ids (skip_invalid_ids is false)",
                                 invalid_ids_sample=sample)
        refused = self._claim(cohort_id, rec)
        if refused:
            return refused
        try:
            with self._lock:
                if count_group != self._cohorts[cohort_id]["count_group"]:
                    return _cohort_error(400, "invalid_request",
                                         f"count_group {count_group!r} does not match the cohort's",
                                         field="count_group")
            if self.cohort_delay_s > 0:
                self._stopping.wait(self.cohort_delay_s)
            with self._lock:
                cohort = self._cohorts[cohort_id]
                members = set(cohort["members"])
                for m, bad in zip(memberships, skipped):
                    change = set(m["ids"]) - set(bad)
                    if m["operation"] == "ADD":
                        members |= change
                    else:
                        members -= change
                if len(members) > MAX_COHORT_SIZE:
                    return _cohort_error(400, "invalid_request",
                                         f"cohorts are limited to {MAX_COHORT_SIZE:,} members")
                cohort["members"] = members
                cohort["last_mod"] = int(time.time())
        finally:
            self._release(cohort_id)
        results = [{"skipped_ids": list(dict.fromkeys(bad)), "id_type": m["id_type"], "operation": m["operation"]}
                   for m, bad in zip(memberships, skipped)]
        return 200, {"cohort_id": cohort_id, "memberships_result": results}


def _handler_for(fake: FakeAmplitude) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeAmplitude/1"

        def setup(self) -> None:
            super().setup()  # headers and body go out in two writes: avoid Nagle's 40 ms stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_READ_BYTES:
                self.close_connection = True
                self._send(413, {"code": 413, "error": "Payload too large"})
                return
            raw = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path == "/_fake/reset":
                fake.reset()
                self._send(200, {"code": 200})
                return
            self._send(*fake.handle(path, self.headers, raw))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if path == "/_fake/state":
                self._send(200, fake.state())
            elif path in (USERSEARCH_PATH, USERACTIVITY_PATH):
                self._send(*fake.dashboard(path, parse_qs(parts.query), self.headers))
            elif path == COHORTS_PATH or path.startswith(COHORTS_PATH + "/"):
                self._send(*fake.handle(path, self.headers, b"", method="GET"))
            else:
                self._send(400, {"code": 400, "error": "Invalid request path"})

        def _send(self, status: int, body: Any) -> None:
            is_text = isinstance(body, str)
            data = body.encode() if is_text else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if is_text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout fault)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the strict fake Amplitude server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", default="demo-key")
    parser.add_argument("--min-id-length", type=int, default=5, help="default minimum id length")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--secret-key", default="demo-secret", help="secret key for the cohort endpoints")
    parser.add_argument("--app-id", type=int, default=123456, help="project id for cohort uploads")
    parser.add_argument("--response-delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--eps-window", type=float, default=DEFAULT_EPS_WINDOW_S,
                        help="seconds over which per-user/device events per second are averaged "
                             f"(limits {EPS_LIMITS}); 0 turns the throttle off")
    args = parser.parse_args(argv)
    fake = FakeAmplitude(api_key=args.api_key, port=args.port, min_id_length_default=args.min_id_length,
                         fault_rate=args.fault_rate, seed=args.seed, secret_key=args.secret_key,
                         app_id=args.app_id, response_delay_s=args.response_delay,
                         eps_window_s=args.eps_window or None)
    fake.start()
    print(f"fake Amplitude listening on {fake.url} (api key {args.api_key!r}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
