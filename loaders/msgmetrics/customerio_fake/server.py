"""A local stand-in for the Customer.io App API (read side), for tests, the demo and the bench.

It follows customerio-formats.md §2, strictly where a lenient client could get away with
something Customer.io would not allow:

* Two hosts, like the US and EU data centers: :attr:`FakeCustomerIo.region_urls` maps
  ``us``/``eu`` to two loopback servers. The workspace lives in one region; its key gets 401
  on the other one (a US key on the EU host fails, §2.1), as does any other key.
  ``Authorization: Bearer <key>`` is required everywhere.
* 10 requests per second (§2.2): a request arriving when 10 others were answered in the last
  second (sliding window) gets 429 ``{"errors":[{"detail":"rate limited to 10 requests per 1s ...",
  "status":"429"}]}`` with ``Retry-After: 1``. :attr:`rate_limited` counts them: a well-behaved
  client causes none.
* ``GET /v1/messages``: ``start``/``limit`` (default 50, at most 1000) cursor paging; the answer
  carries ``next`` while more rows follow and omits it on the last page (``last_next="empty"``
  sends ``""`` instead, as some endpoints do). ``start_ts``/``end_ts`` filter on ``created``,
  both inclusive; the window may span at most 6 calendar months: a wider one gets 400
  (``window_policy="reject"``, the default) or is cut to 6 months after ``start_ts``
  (``"truncate"``); without them the 6 months before :attr:`now` are served. Newest first.
* Metadata: ``/v1/campaigns``, ``/v1/campaigns/{id}/actions`` (10 per page, paged with ``next``),
  ``/v1/newsletters`` (``limit``/``start``), ``/v1/newsletters/{id}/contents``, ``/v1/broadcasts``,
  ``/v1/broadcasts/{id}/actions``, ``/v1/transactional`` (key ``messages``), ``/v1/activities``
  (``limit`` <= 100). Unknown ids and paths get 404.
* A ``cio_id`` made only of digits is sent as a JSON integer (as in the official
  ``/v1/campaigns/{id}/messages`` example); other ``cio_id`` values stay strings.
* Faults, consumed one per API request: ``"500"``, ``"502"``, ``"503"`` (error answers),
  ``"429"`` (throttled with ``Retry-After: 1``; not counted in :attr:`rate_limited`),
  ``"quota"`` (429 without ``Retry-After``: a daily quota), ``"reset"`` (connection closed
  without an answer), ``"401"`` (Unauthorized, as if the key were revoked mid-run),
  ``None``/``"ok"`` (normal).
* :attr:`requests` logs every API request (method, path, query, region, status, arrival time).

Run ``python -m msgmetrics.customerio_fake --data demo_data`` to serve generated demo data.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

FAULTS = ("500", "502", "503", "429", "quota", "reset", "401")
REGIONS = ("us", "eu")
MAX_RPS = 10
MESSAGES_DEFAULT_LIMIT, MESSAGES_MAX_LIMIT = 50, 1000
ACTIONS_PAGE_SIZE = 10
ACTIVITIES_DEFAULT_LIMIT, ACTIVITIES_MAX_LIMIT = 10, 100


@dataclass
class Workspace:
    """What one Customer.io workspace holds, as App API objects."""

    messages: list[dict] = field(default_factory=list)
    campaigns: list[dict] = field(default_factory=list)
    campaign_actions: dict[int, list[dict]] = field(default_factory=dict)  # campaign id -> actions
    newsletters: list[dict] = field(default_factory=list)
    newsletter_contents: dict[int, list[dict]] = field(default_factory=dict)  # newsletter id -> contents
    broadcasts: list[dict] = field(default_factory=list)
    broadcast_actions: dict[int, list[dict]] = field(default_factory=dict)
    transactional: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    region: str
    status: int = 0
    at: float = 0.0  # time.monotonic() on arrival
    fault: str | None = None
    items: int = 0
    rate_limited: bool = False  # a 429 the client caused by going over 10 requests/s


def add_months(ts: int, months: int) -> int:
    """`ts` plus calendar months (the day clamped to the target month's length)."""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _untoken(token: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _error(status: int, detail: str) -> tuple[int, dict, dict]:
    return status, {"errors": [{"detail": detail, "status": str(status)}]}, {}


def _wire(message: dict) -> bytes:
    """A message as sent: a digits-only cio_id becomes a JSON integer."""
    identifiers = message.get("customer_identifiers")
    cio_id = identifiers.get("cio_id") if isinstance(identifiers, dict) else None
    if isinstance(cio_id, str) and cio_id.isdigit() and len(cio_id) < 16:
        message = {**message, "customer_identifiers": {**identifiers, "cio_id": int(cio_id)}}
    return orjson.dumps(message)


class FakeCustomerIo:
    """The fake App API on 127.0.0.1, one server per region (see the module docstring)."""

    def __init__(self, workspace: Workspace | None = None, api_key: str = "test-cio-key", region: str = "us",
                 max_rps: int = MAX_RPS, window_policy: str = "reject", last_next: str = "omit",
                 faults: list[str | None] | None = None, now: int | None = None, response_delay_s: float = 0.0):
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}")
        if window_policy not in ("reject", "truncate"):
            raise ValueError("window_policy must be 'reject' or 'truncate'")
        if last_next not in ("omit", "empty"):
            raise ValueError("last_next must be 'omit' or 'empty'")
        self.api_key, self.region, self.max_rps = api_key, region, max_rps
        self.window_policy, self.last_next = window_policy, last_next
        self.now = now
        self.response_delay_s = response_delay_s
        self._lock = threading.Lock()
        self._faults: deque = deque()
        self.add_faults(*(faults or []))
        self._arrivals: deque[float] = deque()
        self._requests: list[RequestRecord] = []
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []
        self.load(workspace or Workspace())

    # -- data -------------------------------------------------------------

    def load(self, workspace: Workspace) -> None:
        """Replace everything the workspace holds."""
        with self._lock:
            self.workspace = workspace
            self._messages: dict[str, tuple[int, bytes]] = {}
            self._broken: list[bytes] = []
            self._keys: list[tuple[int, str]] | None = None
        self.upsert_messages(workspace.messages)

    def upsert_messages(self, messages: list[dict]) -> None:
        """Add deliveries or replace them by id (e.g. a click arriving on an old delivery).
        Objects without an id or an integer `created` (broken answers, to test quarantine) are
        sent once, on the next first page of a /v1/messages window."""
        with self._lock:
            for message in messages:
                created = message.get("created")
                if message.get("id") in (None, "") or not isinstance(created, int) or isinstance(created, bool):
                    self._broken.append(orjson.dumps(message))
                    continue
                self._messages[str(message["id"])] = (created, _wire(message))
            self._keys = None

    def message(self, delivery_id: str) -> dict:
        return orjson.loads(self._messages[delivery_id][1])

    @property
    def message_count(self) -> int:
        return len(self._messages)

    # -- lifecycle --------------------------------------------------------

    def start(self, port: int = 0) -> "FakeCustomerIo":
        """Listen on 127.0.0.1; `port` (0 = any free one) is the workspace region's server."""
        for region in REGIONS:
            server = ThreadingHTTPServer(("127.0.0.1", port if region == self.region else 0), _handler_for(self, region))
            server.daemon_threads = True
            self._servers[region] = server
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"fake-cio-{region}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> "FakeCustomerIo":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def region_urls(self) -> dict[str, str]:
        """``us``/``eu`` -> base URL, the way the real hosts map (for the source's `region_urls`)."""
        return {region: f"http://127.0.0.1:{server.server_address[1]}" for region, server in self._servers.items()}

    @property
    def url(self) -> str:
        """The base URL of the workspace's own region."""
        return self.region_urls[self.region]

    # -- inspection and control --------------------------------------------

    def add_faults(self, *faults: str | None) -> None:
        for fault in faults:
            if fault not in FAULTS and fault not in (None, "ok"):
                raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def rate_limited(self) -> int:
        """429s caused by a client going over 10 requests/s (injected 429 faults excluded)."""
        return sum(1 for r in self.requests if r.rate_limited)

    # -- requests ------------------------------------------------------------

    def state(self) -> dict:
        """Counts for a client in another process (``GET /_fake/state``)."""
        log = self.requests
        return {"requests": len(log), "rate_limited": sum(1 for r in log if r.rate_limited),
                "statuses": {str(s): sum(1 for r in log if r.status == s) for s in sorted({r.status for r in log})},
                "messages": self.message_count}

    def handle(self, region: str, method: str, target: str, headers: Any) -> tuple[int, Any, dict]:
        parts = urlsplit(target)
        if parts.path == "/_fake/state":
            return 200, self.state(), {}
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        rec = RequestRecord(method, parts.path, query, region, at=time.monotonic())
        try:
            status, body, extra = self._handle(region, method, parts.path, query, headers, rec)
        except _Reset:
            rec.status = -1
            with self._lock:
                self._requests.append(rec)
            raise
        rec.status = status
        if isinstance(body, _Raw):
            rec.items = body.items
        elif isinstance(body, dict):
            rec.items = max((len(v) for v in body.values() if isinstance(v, list)), default=0)
        with self._lock:
            self._requests.append(rec)
        return status, body, extra

    def _handle(self, region, method, path, query, headers, rec) -> tuple[int, Any, dict]:
        if self.response_delay_s:
            time.sleep(self.response_delay_s)
        with self._lock:
            while self._arrivals and rec.at - self._arrivals[0] >= 1.0:
                self._arrivals.popleft()
            if len(self._arrivals) >= self.max_rps:
                rec.rate_limited = True
                return 429, {"errors": [{"detail": f"rate limited to {self.max_rps} requests per 1s (reference fake)",
                                         "status": "429"}]}, {"Retry-After": "1"}
            self._arrivals.append(rec.at)
            fault = self._faults.popleft() if self._faults else None
        rec.fault = fault if fault not in (None, "ok") else None
        if rec.fault == "reset":
            raise _Reset()
        if rec.fault in ("500", "502", "503"):
            return _error(int(rec.fault), "internal error (injected)")
        if rec.fault == "429":
            status, body, _ = _error(429, "rate limited to 10 requests per 1s (injected)")
            return status, body, {"Retry-After": "1"}
        if rec.fault == "quota":
            return _error(429, "daily request quota exceeded (injected)")
        if rec.fault == "401":
            return _error(401, "Unauthorized request (injected: e.g. the key was revoked mid-run)")
        auth = headers.get("Authorization") or ""
        if auth != f"Bearer {self.api_key}" or region != self.region:
            return _error(401, "Unauthorized request")
        if method != "GET":
            return _error(405, "method not allowed")
        return self._route(path, query)

    def _route(self, path: str, query: dict) -> tuple[int, Any, dict]:
        ws = self.workspace
        segments = path.strip("/").split("/")
        if segments[:1] != ["v1"]:
            return _error(404, "not found")
        rest = segments[1:]
        if rest == ["messages"]:
            return self._messages_page(query)
        if rest == ["campaigns"]:
            return 200, {"campaigns": ws.campaigns}, {}
        if rest == ["newsletters"]:
            return self._list_page("newsletters", ws.newsletters, query, 50, 100)
        if rest == ["broadcasts"]:
            return 200, {"broadcasts": ws.broadcasts}, {}
        if rest == ["transactional"]:
            return 200, {"messages": ws.transactional}, {}
        if rest == ["activities"]:
            return self._list_page("activities", ws.activities, query, ACTIVITIES_DEFAULT_LIMIT, ACTIVITIES_MAX_LIMIT)
        if len(rest) == 3 and rest[1].isdigit():
            parent_id, child = int(rest[1]), rest[2]
            table = {("campaigns", "actions"): ws.campaign_actions, ("newsletters", "contents"): ws.newsletter_contents,
                     ("broadcasts", "actions"): ws.broadcast_actions}.get((rest[0], child))
            if table is not None:
                if parent_id not in table:
                    return _error(404, f"{rest[0][:-1]} {parent_id} not found")
                if rest[0] == "campaigns":  # paged, 10 per page (§2.3)
                    return self._list_page(child, table[parent_id], query, ACTIONS_PAGE_SIZE, ACTIONS_PAGE_SIZE)
                return 200, {child: table[parent_id]}, {}
        return _error(404, "not found")

    def _list_page(self, key: str, items: list, query: dict, default: int, maximum: int) -> tuple[int, dict, dict]:
        try:
            limit = min(int(query.get("limit") or default), maximum)
            offset = int(_untoken(query["start"])) if query.get("start") else 0
        except (ValueError, TypeError):
            return _error(400, "invalid limit or start")
        page = items[offset:offset + limit]
        body: dict = {key: page}
        if offset + limit < len(items):
            body["next"] = _token(offset + limit)
        elif self.last_next == "empty":
            body["next"] = ""
        return 200, body, {}

    def _messages_page(self, query: dict) -> tuple[int, Any, dict]:
        try:
            limit = int(query.get("limit") or MESSAGES_DEFAULT_LIMIT)
            start_ts = int(query["start_ts"]) if query.get("start_ts") else None
            end_ts = int(query["end_ts"]) if query.get("end_ts") else None
            after = tuple(_untoken(query["start"])) if query.get("start") else None
        except (ValueError, TypeError):
            return _error(400, "start_ts and end_ts must be unix timestamps, limit an integer, start a `next` value")
        if limit < 1:
            return _error(400, "limit must be positive")
        limit = min(limit, MESSAGES_MAX_LIMIT)
        now = self.now if self.now is not None else int(time.time())
        if start_ts is None and end_ts is None:
            end_ts = now
        if start_ts is None:
            start_ts = add_months(end_ts, -6)
        if end_ts is None:
            end_ts = add_months(start_ts, 6)
        if end_ts > add_months(start_ts, 6):
            if self.window_policy == "reject":
                return _error(400, "start_ts and end_ts may be at most 6 months apart")
            end_ts = add_months(start_ts, 6)
        with self._lock:
            if self._keys is None:
                self._keys = sorted((-created, delivery_id) for delivery_id, (created, _) in self._messages.items())
            keys, store = self._keys, self._messages
            lo = bisect.bisect_left(keys, (-end_ts,))
            hi = bisect.bisect_left(keys, (-start_ts + 1,))
            if after is not None:
                lo = max(lo, bisect.bisect_right(keys, (after[0], after[1])))
            chosen = keys[lo:min(hi, lo + limit)]
            rows = [store[delivery_id][1] for _, delivery_id in chosen]
            if after is None and self._broken:
                rows, self._broken = self._broken + rows, []
        body = b'{"messages":[' + b",".join(rows) + b"]"
        if chosen and lo + limit < hi:
            body += b',"next":' + orjson.dumps(_token(list(chosen[-1])))
        elif self.last_next == "empty":
            body += b',"next":""'
        return 200, _Raw(body + b"}", len(rows)), {}


class _Reset(Exception):
    """Close the connection without answering."""


@dataclass
class _Raw:
    data: bytes
    items: int


def _handler_for(fake: FakeCustomerIo, region: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeCustomerIo/1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._answer("POST")

        def _answer(self, method: str) -> None:
            try:
                status, body, extra = fake.handle(region, method, self.path, self.headers)
            except _Reset:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            data = body.data if isinstance(body, _Raw) else orjson.dumps(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    import argparse

    from .derive import derive_workspace

    parser = argparse.ArgumentParser(description="Serve generated demo data as a fake Customer.io App API on 127.0.0.1.")
    parser.add_argument("--data", required=True, help="folder written by `msgmetrics generate`")
    parser.add_argument("--port", type=int, default=0, help="port of the workspace region's host (0: any free one)")
    parser.add_argument("--api-key", default="msgmetrics-demo-cio-key")
    parser.add_argument("--region", choices=REGIONS, default="us")
    parser.add_argument("--max-rps", type=int, default=MAX_RPS)
    args = parser.parse_args(argv)
    fake = FakeCustomerIo(derive_workspace(args.data), api_key=args.api_key, region=args.region, max_rps=args.max_rps)
    fake.start(args.port)
    print(f"fake Customer.io App API ({args.region}) at {fake.url}; other region at "
          f"{fake.region_urls['eu' if args.region == 'us' else 'us']}; {fake.message_count:,} deliveries; "
          f"export CUSTOMERIO_API_URL={fake.url} CUSTOMERIO_APP_API_KEY={args.api_key}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
