"""A strict local stand-in for Amplitude's ingestion APIs, for tests and the demo.

It enforces the documented contract (reference ``amplitude-apis.md`` §1-§3) more
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
* Faults: a ``faults`` list consumed one per POST (``None``/``"ok"`` = normal), or
  ``fault_rate`` random faults among 429/500/ingest_then_500/503.

Run ``python -m msgmetrics.amplitude.fake_server --port 8765 --api-key demo-key``;
``GET /_fake/state`` returns counts and user properties as JSON.
"""

from __future__ import annotations

import argparse
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


def _reply(status: int, error: str, **extra: Any) -> tuple[int, dict]:
    return status, {"code": status, "error": error, **extra}


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

    def state(self) -> dict:
        with self._lock:
            return {
                "event_count": len(self._events),
                "distinct_insert_ids": len({e["insert_id"] for e in self._events if "insert_id" in e}),
                "duplicates_dropped": self._duplicates,
                "identifications": len(self._identifications),
                "user_properties": json.loads(json.dumps(self._user_properties)),
                "requests": [asdict(r) | {"insert_ids": len(r.insert_ids)} for r in self._requests],
            }

    # -- request handling ---------------------------------------------------

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        """Answer one POST; returns (status, JSON-able body or str). Records the request."""
        record = RequestRecord(path=path, status=0, n_events=0)
        try:
            status, body = self._handle(path, headers, raw, record)
        except Exception as exc:  # a bug in the fake should surface as a 500, not a hung client
            status, body = _reply(500, f"fake server error: {exc!r}")
        record.status = status
        with self._lock:
            self._requests.append(record)
        return status, body

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
        throttled = self._over_user_limit(records)
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
                if event.get("user_properties"):  # plain keys are $set; operations as on /identify
                    who = str(event.get("user_id") or event.get("device_id"))
                    apply_user_properties(self._user_properties.setdefault(who, {}), event["user_properties"])
        return 200, {"code": 200, "events_ingested": len(events), "payload_size_bytes": size,
                     "server_upload_time": int(time.time() * 1000)}

    def _ingest_identify(self, identifications: list[dict]) -> tuple[int, str]:
        with self._lock:
            for ident in identifications:
                self._identifications.append(ident)
                who = str(ident.get("user_id") or ident.get("device_id"))
                props = ident.get("user_properties") or {}
                apply_user_properties(self._user_properties.setdefault(who, {}), props)
        return 200, "success"


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
            if urlsplit(self.path).path == "/_fake/state":
                self._send(200, fake.state())
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
    args = parser.parse_args(argv)
    fake = FakeAmplitude(api_key=args.api_key, port=args.port, min_id_length_default=args.min_id_length,
                         fault_rate=args.fault_rate, seed=args.seed)
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
