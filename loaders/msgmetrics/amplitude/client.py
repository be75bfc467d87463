"""Thin synchronous client for Amplitude's HTTP V2 (``/2/httpapi``) and Identify APIs.

Why not the official SDK: it sends from background threads, retries 5xx for only
about 10 s, drops events silently on a bad key or an odd value type, and fills in
a random ``insert_id`` (reference §6). This client keeps up to ``concurrency``
requests in flight (default 4; the official SDK runs 16 senders) and reports every record's
fate through two callbacks, always on the calling thread:

* ``on_accepted(records)`` once per request Amplitude answered 200 for. The
  caller writes its ledger there, so what was accepted stays recorded even if a
  later request fails for good.
* ``on_rejected(records, reason)`` for records Amplitude will never take as sent
  (400 with indexes, a single record still too large, daily quota, not
  JSON-serialisable, throttled for longer than the retry budget).

Status handling (reference §1.5, §1.6):

* 200: accepted.
* 413: split the request in half and send each half; one record alone → rejected.
* 400 ``Invalid API key``: ``AmplitudeAuthError``; 403: ``AmplitudeForbiddenError``.
  Both are fatal and nothing more is sent.
* 400 with index maps: the listed records are rejected, the rest resent at once
  (Amplitude ingests nothing from a 400). 400 without indexes: whole request rejected.
* 429: the listed events are held (``throttle_hold_s``, 30 s, on /2/httpapi; at most 15 s on
  /batch and /identify, as Amplitude advises) and the throttled
  users/devices are held too (their later records wait as well); everything else
  is sent on. Daily-quota users/devices are rejected.
* 5xx, 408, timeouts, connection errors: the *same bytes* (same ``insert_id`` s)
  are resent with full-jitter exponential backoff until ``max_retry_seconds`` has
  passed since the request was first tried, then ``AmplitudeUnavailableError``.

Concurrency never breaks per-user order or per-user limits: requests in flight at the same
time never share a ``user_id`` or ``device_id`` (a chunk that would is held back until the
earlier one is answered), and chunk boundaries are moved so that a user's consecutive
records stay in one chunk where the limits allow. On a fatal error nothing new is sent, the
requests already in flight are awaited and their answers reported (so an accepted request
is always recorded), then the error is raised. ``concurrency=1`` is strictly one request at
a time.

Records are sent as given: build them with :mod:`msgmetrics.amplitude.jsonsafe`
and give every event a deterministic ``insert_id``. The client object is not thread-safe
(its worker threads are its own).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.metadata
import json
import logging
import os
import random
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import quote_plus, urlsplit

import requests

log = logging.getLogger(__name__)

HOSTS = {"us": "https://api2.amplitude.com", "eu": "https://api.eu.amplitude.com"}
# REST hosts (Behavioral Cohorts, Dashboard, Export), which need the secret key too.
API_HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
SECRET_FIELDS = ("api_key", "secret_key")
EVENTS_PATH = "/2/httpapi"
BATCH_PATH = "/batch"
MAX_BATCH_BODY_BYTES = 20_000_000  # /batch takes up to 20 MB (and the same 2000 events)
# Amplitude's advice on a 429: pause the throttled users 30 s on /2/httpapi, about 15 s on
# /batch and /identify (amplitude-apis.md §1.6).
SHORT_THROTTLE_HOLD_S = 15.0
IDENTIFY_PATH = "/identify"
MAX_EVENTS_PER_REQUEST = 2000
MAX_IDENTIFICATIONS_PER_REQUEST = 1000
MAX_BODY_BYTES = 1_000_000  # "1 MB" read as decimal megabytes: the stricter reading
GZIP_THRESHOLD_BYTES = 64 * 1024
# Requests in flight at once. Amplitude documents no concurrency limit for ingestion ("send as fast
# as you can and back off on 429"); its own Python SDK posts from 16 threads. Users never overlap
# between concurrent requests, so per-user order and the per-user eps limits are unaffected.
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16
LOOKAHEAD_CHUNKS = 8  # how far past a held-back chunk the sender looks for one it may send

Accepted = Callable[[list[dict]], None]
Rejected = Callable[[list[dict], str], None]


class AmplitudeError(Exception):
    """Base error. ``report`` holds the counts up to the failure, when known."""

    def __init__(self, message: str, report: "SendReport | None" = None):
        super().__init__(message)
        self.report = report


class AmplitudeConfigError(AmplitudeError, ValueError):
    """Missing or invalid configuration."""


class AmplitudeAuthError(AmplitudeError):
    """Amplitude answered 400 ``Invalid API key``."""


class AmplitudeForbiddenError(AmplitudeError):
    """Amplitude answered 403 (blocked by its firewall)."""


class AmplitudeUnavailableError(AmplitudeError):
    """5xx/timeouts went on for longer than ``max_retry_seconds``."""


def _mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) >= 16 else "****"


@dataclass(frozen=True, repr=False)
class AmplitudeConfig:
    api_key: str
    region: str = "us"
    ingest_url: str | None = None
    min_id_length: int | None = None
    timeout_s: float = 30.0
    max_retry_seconds: float = 600.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    throttle_hold_s: float = 30.0
    secret_key: str | None = None
    api_url: str | None = None
    app_id: int | None = None  # Amplitude project id, for the Behavioral Cohorts API
    cohort_owner: str | None = None  # login email of the Amplitude user who owns uploaded cohorts
    events_per_request: int = MAX_EVENTS_PER_REQUEST  # at most 2000
    # A push of more events than this is a backfill: it goes to /batch (20 MB, 1000 eps per user)
    # instead of /2/httpapi (1 MB, 30 eps per user).
    batch_threshold: int = 10_000
    # Ingestion requests in flight at once (1..16); never two at once for the same user/device.
    concurrency: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise AmplitudeConfigError("Amplitude API key is empty: set AMPLITUDE_API_KEY")
        region = str(self.region).strip().lower()
        if region not in HOSTS:
            raise AmplitudeConfigError(f"AMPLITUDE_REGION must be 'us' or 'eu', got {self.region!r}")
        object.__setattr__(self, "region", region)
        if self.ingest_url is not None:
            object.__setattr__(self, "ingest_url", self.ingest_url.strip().rstrip("/") or None)
        if self.min_id_length is not None and (
            isinstance(self.min_id_length, bool) or not isinstance(self.min_id_length, int) or self.min_id_length < 1
        ):
            raise AmplitudeConfigError(
                f"AMPLITUDE_MIN_ID_LENGTH must be a positive integer, got {self.min_id_length!r}"
            )
        if not 1 <= self.events_per_request <= MAX_EVENTS_PER_REQUEST:
            raise AmplitudeConfigError(f"events_per_request must be 1..{MAX_EVENTS_PER_REQUEST}, got {self.events_per_request}")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or not (
            1 <= self.concurrency <= MAX_CONCURRENCY
        ):
            raise AmplitudeConfigError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {self.concurrency!r}")
        if self.timeout_s <= 0 or self.max_retry_seconds < 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise AmplitudeConfigError("timeout_s must be > 0 and retry/backoff settings >= 0")
        if self.app_id is not None and (
            isinstance(self.app_id, bool) or not isinstance(self.app_id, int) or self.app_id < 1
        ):
            raise AmplitudeConfigError(f"AMPLITUDE_APP_ID must be a positive integer project id, got {self.app_id!r}")
        if self.cohort_owner is not None:
            owner = str(self.cohort_owner).strip()
            if owner and "@" not in owner:
                raise AmplitudeConfigError(
                    f"AMPLITUDE_COHORT_OWNER must be the login email of an Amplitude user, got {owner!r}"
                )
            object.__setattr__(self, "cohort_owner", owner or None)

    @property
    def base_url(self) -> str:
        return self.ingest_url or HOSTS[self.region]

    @property
    def rest_url(self) -> str:
        """Host of the REST APIs (cohorts, dashboard); AMPLITUDE_API_URL overrides it."""
        return (self.api_url or API_HOSTS[self.region]).rstrip("/")

    @property
    def cohorts_enabled(self) -> bool:
        """True when the Behavioral Cohorts API can be used: secret key, app id and owner all set."""
        return bool(self.secret_key and self.app_id and self.cohort_owner)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={_mask(getattr(self, f.name) or '') if f.name in SECRET_FIELDS else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        )
        return f"AmplitudeConfig({fields})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> "AmplitudeConfig":
        """Read AMPLITUDE_API_KEY, AMPLITUDE_REGION (us|eu, default us),
        AMPLITUDE_INGEST_URL (wins over the region's host) and AMPLITUDE_MIN_ID_LENGTH; for the REST
        APIs AMPLITUDE_SECRET_KEY, AMPLITUDE_API_URL (wins over the region's REST host), and for
        cohort uploads AMPLITUDE_APP_ID (integer project id) and AMPLITUDE_COHORT_OWNER (login email)."""
        key = (environ.get("AMPLITUDE_API_KEY") or "").strip()
        if not key:
            raise AmplitudeConfigError(
                "AMPLITUDE_API_KEY is not set: set AMPLITUDE_API_KEY to the Amplitude project's API key "
                "(and AMPLITUDE_REGION=eu for an EU-resident project)"
            )
        values: dict[str, Any] = {"api_key": key, "region": (environ.get("AMPLITUDE_REGION") or "us")}
        for env_name, field_name in (("AMPLITUDE_SECRET_KEY", "secret_key"), ("AMPLITUDE_API_URL", "api_url"),
                                     ("AMPLITUDE_COHORT_OWNER", "cohort_owner")):
            if (environ.get(env_name) or "").strip():
                values[field_name] = environ[env_name].strip()
        if (environ.get("AMPLITUDE_INGEST_URL") or "").strip():
            values["ingest_url"] = environ["AMPLITUDE_INGEST_URL"]
        raw_app = (environ.get("AMPLITUDE_APP_ID") or "").strip()
        if raw_app:
            try:
                values["app_id"] = int(raw_app)
            except ValueError:
                raise AmplitudeConfigError(
                    f"AMPLITUDE_APP_ID must be a positive integer project id, got {raw_app!r}"
                ) from None
        raw_min = (environ.get("AMPLITUDE_MIN_ID_LENGTH") or "").strip()
        if raw_min:
            try:
                values["min_id_length"] = int(raw_min)
            except ValueError:
                raise AmplitudeConfigError(
                    f"AMPLITUDE_MIN_ID_LENGTH must be a positive integer, got {raw_min!r}"
                ) from None
        for env_name, field_name, kind in _TUNING_ENV:
            raw = (environ.get(env_name) or "").strip()
            if raw:
                try:
                    values[field_name] = kind(raw)
                except ValueError:
                    raise AmplitudeConfigError(f"{env_name} must be a number, got {raw!r}") from None
        values.update(overrides)
        return cls(**values)


# Optional tuning from the environment: (variable, AmplitudeConfig field, type).
_TUNING_ENV = (
    ("AMPLITUDE_TIMEOUT_S", "timeout_s", float),
    ("AMPLITUDE_MAX_RETRY_SECONDS", "max_retry_seconds", float),
    ("AMPLITUDE_BACKOFF_BASE_S", "backoff_base_s", float),
    ("AMPLITUDE_BACKOFF_MAX_S", "backoff_max_s", float),
    ("AMPLITUDE_THROTTLE_HOLD_S", "throttle_hold_s", float),
    ("AMPLITUDE_EVENTS_PER_REQUEST", "events_per_request", int),
    ("AMPLITUDE_BATCH_THRESHOLD", "batch_threshold", int),
    ("AMPLITUDE_CONCURRENCY", "concurrency", int),
)


@dataclass
class SendReport:
    """Counts for one ``send_events``/``identify`` call.

    ``sent_requests`` counts HTTP attempts (retries included); ``accepted_events``
    and ``rejected_events`` count records (identifications for ``identify``);
    ``throttled_holds`` counts records a 429 listed that were put on hold (once
    per hold; later records of a held user that wait behind them are not counted);
    ``splits`` counts 413 halvings; ``events_ingested`` sums the server's
    ``events_ingested`` answers (HTTP V2 only).
    """

    sent_requests: int = 0
    accepted_events: int = 0
    rejected_events: int = 0
    retries: int = 0
    throttled_holds: int = 0
    splits: int = 0
    events_ingested: int = 0


@dataclass
class _Item:
    record: Any
    piece: str  # the record as it appears inside the body
    size: int  # len(piece) in UTF-8 bytes
    keys: frozenset = frozenset()  # ("user", id) / ("device", id) of the record
    held_s: float = 0.0  # total time this record has spent on 429 hold


@dataclass(frozen=True)
class _Endpoint:
    """How one API path frames records into a body: prefix + sep.join(pieces) + suffix."""

    path: str
    max_items: int
    max_bytes: int
    throttle_hold_s: float  # how long users named in a 429 wait on this endpoint
    prefix: str
    suffix: str
    sep: str
    content_type: str
    encode: Callable[[str], str]
    gzip: bool

    @property
    def overhead(self) -> int:
        return len(self.prefix.encode()) + len(self.suffix.encode())

    def body(self, chunk: list[_Item]) -> bytes:
        return (self.prefix + self.sep.join(it.piece for it in chunk) + self.suffix).encode("utf-8")


def _version() -> str:
    try:
        return importlib.metadata.version("msgmetrics")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class HttpClientBase:
    """What the ingestion and cohorts clients share: config, an HTTP session (owned unless
    given), and injectable sleep/clock/rng so tests run the real HTTP path fast."""

    def __init__(
        self,
        config: AmplitudeConfig,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self.config = config
        self._own_session = session is None
        self._given_session = session
        self._sessions: list[requests.Session] = []
        self._local = threading.local()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._user_agent = f"msgmetrics/{_version()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @property
    def _session(self) -> requests.Session:
        """The given session, else one per thread (a worker thread keeps its own connection)."""
        if self._given_session is not None:
            return self._given_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def _executor(self) -> ThreadPoolExecutor:
        """The worker threads that carry requests (created once, ``config.concurrency`` of them)."""
        executor = getattr(self, "_pool", None)
        if executor is None:
            executor = self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="amplitude")
        return executor

    def close(self) -> None:
        executor = getattr(self, "_pool", None)
        if executor is not None:
            executor.shutdown(wait=True)
            self._pool = None
        if self._own_session:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
            self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int, elapsed: float) -> None:
        """Sleep a full-jitter exponential backoff, capped, never past the retry budget."""
        cfg = self.config
        cap = min(cfg.backoff_max_s, cfg.backoff_base_s * 2.0 ** min(attempt, 62))
        self._sleep(max(min(self._rng.uniform(0, cap), cfg.max_retry_seconds - elapsed), 0.0))


class AmplitudeClient(HttpClientBase):

    # -- public API -------------------------------------------------------

    def send_events(
        self, events: list[dict], on_accepted: Accepted, on_rejected: Rejected, endpoint: str = "auto"
    ) -> SendReport:
        """POST events in requests of <= events_per_request (2000) events: to ``/2/httpapi``
        (<= 1 MB) for small increments, to ``/batch`` (<= 20 MB) for backfills. ``endpoint``:
        "auto" (``/batch`` when there are more than ``batch_threshold`` events), "httpapi" or "batch"."""
        if endpoint not in ("auto", "httpapi", "batch"):
            raise ValueError(f"endpoint must be auto, httpapi or batch, got {endpoint!r}")
        use_batch = endpoint == "batch" or (endpoint == "auto" and len(events) > self.config.batch_threshold)
        options = ""
        if self.config.min_id_length is not None:
            options = f',"options":{{"min_id_length":{self.config.min_id_length}}}'
        ep = _Endpoint(
            path=BATCH_PATH if use_batch else EVENTS_PATH,
            max_items=self.config.events_per_request,
            max_bytes=MAX_BATCH_BODY_BYTES if use_batch else MAX_BODY_BYTES,
            throttle_hold_s=min(self.config.throttle_hold_s, SHORT_THROTTLE_HOLD_S) if use_batch
            else self.config.throttle_hold_s,
            prefix='{"api_key":' + json.dumps(self.config.api_key) + options + ',"events":[',
            suffix="]}",
            sep=",",
            content_type="application/json",
            encode=lambda blob: blob,
            gzip=True,
        )
        return _Delivery(self, ep, on_accepted, on_rejected).run(events)

    def identify(self, identifications: list[dict], on_accepted: Accepted, on_rejected: Rejected) -> SendReport:
        """POST identifications to ``/identify`` (form-encoded) in requests of <= 1000 and <= 1 MB."""
        prefix = "api_key=" + quote_plus(self.config.api_key)
        if self.config.min_id_length is not None:
            prefix += "&options=" + quote_plus(json.dumps({"min_id_length": self.config.min_id_length}))
        ep = _Endpoint(
            path=IDENTIFY_PATH,
            max_items=MAX_IDENTIFICATIONS_PER_REQUEST,
            max_bytes=MAX_BODY_BYTES,
            throttle_hold_s=min(self.config.throttle_hold_s, SHORT_THROTTLE_HOLD_S),
            prefix=prefix + "&identification=" + quote_plus("["),
            suffix=quote_plus("]"),
            sep=quote_plus(","),
            content_type="application/x-www-form-urlencoded",
            encode=quote_plus,
            gzip=False,
        )
        return _Delivery(self, ep, on_accepted, on_rejected).run(identifications)

    # -- HTTP -------------------------------------------------------------

    @property
    def host(self) -> str:
        return urlsplit(self.config.base_url).netloc or self.config.base_url

    def _redact(self, text: str) -> str:
        return text.replace(self.config.api_key, _mask(self.config.api_key))

    def _post(self, path: str, body: bytes, content_type: str, report: SendReport) -> tuple[int, dict]:
        """POST ``body``, retrying 5xx/408/timeouts with the same bytes; return (status, json)."""
        cfg = self.config
        headers = {"Content-Type": content_type, "User-Agent": self._user_agent, "Accept": "application/json"}
        if len(body) > GZIP_THRESHOLD_BYTES and content_type == "application/json":
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        url = cfg.base_url + path
        start = self._clock()
        attempt = 0
        while True:
            report.sent_requests += 1
            try:
                resp = self._session.post(url, data=body, headers=headers, timeout=cfg.timeout_s)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"{type(exc).__name__} after up to {cfg.timeout_s:g} s"
                log.warning("Amplitude %s %s: no answer (%s)", self.host, path, problem)
            else:
                payload = self._payload(resp)
                if resp.status_code != 200:
                    log.warning("Amplitude %s %s answered HTTP %s: %s", self.host, path, resp.status_code,
                                payload.get("error", ""))
                if not (resp.status_code >= 500 or resp.status_code == 408):
                    return resp.status_code, payload
                problem = f"HTTP {resp.status_code} {payload.get('error', '')}".strip()
            elapsed = self._clock() - start
            if elapsed >= cfg.max_retry_seconds:
                raise AmplitudeUnavailableError(
                    f"Amplitude at {self.host} did not take a request for {elapsed:.1f} s "
                    f"(max_retry_seconds={cfg.max_retry_seconds:g}); last problem: {problem}. "
                    "Requests accepted earlier stay accepted; the records not yet accepted were not sent.",
                    report,
                )
            self._backoff(attempt, elapsed)
            attempt += 1
            report.retries += 1

    def _payload(self, resp: requests.Response) -> dict:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"error": resp.text[:500]} if resp.status_code != 200 else {}
        if isinstance(data.get("error"), str):
            data["error"] = self._redact(data["error"])
        return data

    def _auth_error(self, report: SendReport) -> AmplitudeAuthError:
        where = f"region {self.config.region!r}"
        if self.config.ingest_url:
            where += ", host overridden by AMPLITUDE_INGEST_URL"
        return AmplitudeAuthError(
            f"Amplitude rejected the API key (HTTP 400 'Invalid API key') at {self.host} ({where}). "
            "An EU project's key sent to the US host (or the reverse) gives this error: check "
            "AMPLITUDE_REGION, then AMPLITUDE_API_KEY. Nothing further was sent.",
            report,
        )


_INDEX_MAPS = {
    "events_with_invalid_fields": "invalid field",
    "events_with_missing_fields": "missing field",
    "events_with_invalid_id_lengths": "invalid id length for",
}


def _indexes(value: Any, n: int) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [i for i in values if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n]


def _names(value: Any) -> set[str]:
    if isinstance(value, (dict, list)):
        return {str(k) for k in value}
    return set()


def _keys(record: Any) -> set[tuple[str, str]]:
    if not isinstance(record, dict):
        return set()
    keys = set()
    if record.get("user_id") is not None:
        keys.add(("user", str(record["user_id"])))
    if record.get("device_id") is not None:
        keys.add(("device", str(record["device_id"])))
    return keys


class _Delivery:
    """State of one send_events/identify call: the queue of chunks, the requests in flight and
    the 429 hold pool. Only the calling thread touches this state; worker threads run
    ``client._post`` and nothing else."""

    def __init__(self, client: AmplitudeClient, ep: _Endpoint, on_accepted: Accepted, on_rejected: Rejected):
        self.client = client
        self.cfg = client.config
        self.ep = ep
        self.on_accepted = on_accepted
        self.on_rejected = on_rejected
        self.report = SendReport()
        self.queue: deque[list[_Item]] = deque()
        self.pool: list[tuple[float, _Item]] = []  # (release time, item), in hold order
        self.held_keys: dict[tuple[str, str], float] = {}  # user/device -> release time
        self.inflight: dict[Future, tuple[list[_Item], frozenset]] = {}  # in dispatch order
        self.error: AmplitudeError | None = None  # the first fatal error; nothing new is sent after it

    def run(self, records: list[dict]) -> SendReport:
        self.queue.extend(self._pack(self._prepare(records)))
        executor = self.client._executor() if self.cfg.concurrency > 1 else None
        while True:
            if self.error is None:
                self._release_due()
                self._dispatch(executor)
            if self.inflight:
                self._collect()
                continue
            if self.error is not None or not (self.queue or self.pool):
                break
            if not self.queue:  # only held records left: wait for the first release
                wait_s = min(t for t, _ in self.pool) - self.client._clock()
                self.client._sleep(max(wait_s, 0.0))
        if self.error is not None:
            self.error.report = self.report
            raise self.error
        return self.report

    # -- building chunks --------------------------------------------------

    def _prepare(self, records: list[dict]) -> list[_Item]:
        items = []
        for record in records:
            try:
                blob = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
                piece = self.ep.encode(blob)
                size = len(piece.encode("utf-8"))
            except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
                self._reject([record], f"not JSON-serialisable: {exc} (convert with jsonsafe.to_json_safe)")
                continue
            if self.ep.overhead + size > self.ep.max_bytes:
                self._reject([record], f"too large: {size} bytes, over the {self.ep.max_bytes} byte request limit")
                continue
            items.append(_Item(record, piece, size, frozenset(_keys(record))))
        return items

    def _pack(self, items: list[_Item]) -> list[list[_Item]]:
        """Chunks of <= max_items and <= max_bytes, in order. When a chunk fills up in the middle of
        a run of one user's (or device's) records, that run moves to the next chunk if it fits there,
        so consecutive chunks share no user and can be in flight at the same time."""
        chunks: list[list[_Item]] = []
        chunk: list[_Item] = []
        size = self.ep.overhead
        sep = len(self.ep.sep)
        for it in items:
            extra = it.size + (sep if chunk else 0)
            if chunk and (len(chunk) >= self.ep.max_items or size + extra > self.ep.max_bytes):
                cut = len(chunk)
                while cut > 0 and chunk[cut - 1].keys & it.keys:
                    cut -= 1
                tail = chunk[cut:] if 0 < cut < len(chunk) else []
                tail_size = sum(t.size for t in tail) + sep * len(tail)
                if tail and (len(tail) >= self.ep.max_items or self.ep.overhead + tail_size + it.size > self.ep.max_bytes):
                    tail = []  # the run and this record do not fit together: cut where the limit fell
                if tail:
                    chunks.append(chunk[:cut])
                    chunk, size, extra = tail, self.ep.overhead + tail_size - sep, it.size + sep
                else:
                    chunks.append(chunk)
                    chunk, size, extra = [], self.ep.overhead, it.size
            chunk.append(it)
            size += extra
        if chunk:
            chunks.append(chunk)
        return chunks

    # -- sending ----------------------------------------------------------

    def _dispatch(self, executor: ThreadPoolExecutor | None) -> None:
        """Start requests for queued chunks while there is a free slot. A chunk that shares a user or
        device with a request in flight (or with an earlier chunk still queued) waits its turn."""
        slots = self.cfg.concurrency - len(self.inflight)
        if slots <= 0 or not self.queue:
            return
        busy: set = set()
        for _, keys in self.inflight.values():
            busy |= keys
        skipped: list[list[_Item]] = []
        while self.queue and slots > 0 and len(skipped) <= LOOKAHEAD_CHUNKS:
            chunk = self.queue.popleft()
            keys = frozenset().union(*(it.keys for it in chunk))
            if keys & busy:
                skipped.append(chunk)
                busy |= keys
                continue
            body = self.ep.body(chunk)
            if len(body) > self.ep.max_bytes:  # packing keeps this from happening; measure anyway
                self._split(chunk, f"body of {len(body)} bytes")
                continue
            stats = SendReport()
            if executor is None:  # concurrency 1: send on this thread, one request at a time
                future: Future = Future()
                try:
                    future.set_result(self._post(body, stats))
                except AmplitudeError as exc:
                    future.set_exception(exc)
            else:
                future = executor.submit(self._post, body, stats)
            self.inflight[future] = (chunk, keys)
            busy |= keys
            slots -= 1
        self.queue.extendleft(reversed(skipped))

    def _post(self, body: bytes, stats: SendReport) -> tuple[int, dict, SendReport]:
        try:
            return self.client._post(self.ep.path, body, self.ep.content_type, stats) + (stats,)
        except AmplitudeError as exc:
            exc.stats = stats  # type: ignore[attr-defined]
            raise

    def _collect(self) -> None:
        """Wait for at least one request in flight (or the next 429 release), then handle every
        answered one on this thread, in the order they were sent."""
        timeout = None
        if self.pool and self.error is None and len(self.inflight) < self.cfg.concurrency:
            timeout = max(min(t for t, _ in self.pool) - self.client._clock(), 0.0)
        wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in [f for f in self.inflight if f.done()]:
            chunk, _ = self.inflight.pop(future)
            try:
                status, payload, stats = future.result()
            except AmplitudeError as exc:
                self._merge(getattr(exc, "stats", None))
                self.error = self.error or exc
                continue
            self._merge(stats)
            try:
                self._answered(chunk, status, payload)
            except AmplitudeError as exc:
                self.error = self.error or exc

    def _merge(self, stats: SendReport | None) -> None:
        if stats is not None:
            self.report.sent_requests += stats.sent_requests
            self.report.retries += stats.retries

    def _answered(self, chunk: list[_Item], status: int, payload: dict) -> None:
        error = str(payload.get("error", ""))
        if status == 200:
            self.report.accepted_events += len(chunk)
            if self.ep.path == EVENTS_PATH:
                ingested = payload.get("events_ingested")
                self.report.events_ingested += ingested if isinstance(ingested, int) else 0
            self.on_accepted([it.record for it in chunk])
        elif status == 413:
            self._split(chunk, f"HTTP 413 {error}".strip())
        elif status == 429:
            self._throttled(chunk, payload)
        elif status == 400 and "invalid api key" in error.lower():
            raise self.client._auth_error(self.report)
        elif status == 400:
            self._bad_request(chunk, payload, error)
        elif status == 403:
            raise AmplitudeForbiddenError(
                f"Amplitude at {self.client.host} answered 403 Forbidden ({error or 'no detail'}): its firewall "
                "blocked the request (suspicious header/body/URI, or a sanctioned region). Nothing further was sent.",
                self.report,
            )
        else:
            raise AmplitudeError(
                f"unexpected HTTP {status} from {self.client.host}{self.ep.path}: {error or 'no detail'} "
                "(check AMPLITUDE_INGEST_URL). Nothing further was sent.",
                self.report,
            )

    def _split(self, chunk: list[_Item], why: str) -> None:
        if len(chunk) == 1:
            self._reject([chunk[0].record], f"{why}: a single record is over the request limit")
            return
        mid = len(chunk) // 2
        self.queue.appendleft(chunk[mid:])
        self.queue.appendleft(chunk[:mid])
        self.report.splits += 1

    def _bad_request(self, chunk: list[_Item], payload: dict, error: str) -> None:
        reasons: dict[int, list[str]] = {}
        for key, label in _INDEX_MAPS.items():
            mapping = payload.get(key)
            if isinstance(mapping, dict):
                for field, idxs in mapping.items():
                    for i in _indexes(idxs, len(chunk)):
                        reasons.setdefault(i, []).append(f"{label} {field}")
        for i in _indexes(payload.get("silenced_events", []), len(chunk)):
            reasons.setdefault(i, []).append("device silenced")
        if not reasons:
            missing = payload.get("missing_field")
            detail = f" (missing_field: {missing})" if missing else ""
            self._reject([it.record for it in chunk], f"HTTP 400 {error}{detail}")
            return
        groups: dict[str, list[Any]] = {}
        for i in sorted(reasons):
            groups.setdefault(f"HTTP 400 {error}: {', '.join(reasons[i])}", []).append(chunk[i].record)
        for reason, records in groups.items():
            self._reject(records, reason)
        rest = [it for i, it in enumerate(chunk) if i not in reasons]
        if rest:
            self.queue.appendleft(rest)

    def _throttled(self, chunk: list[_Item], payload: dict) -> None:
        n = len(chunk)
        quota = {("user", u) for u in _names(payload.get("exceeded_daily_quota_users"))}
        quota |= {("device", d) for d in _names(payload.get("exceeded_daily_quota_devices"))}
        named = {("user", u) for u in _names(payload.get("throttled_users"))}
        named |= {("device", d) for d in _names(payload.get("throttled_devices"))}
        over_quota = [i for i, it in enumerate(chunk) if it.keys & quota]
        set_over = set(over_quota)
        if over_quota:
            self._reject([chunk[i].record for i in over_quota],
                         "HTTP 429 exceeded the daily quota for this user/device")
        live = [i for i in range(n) if i not in set_over]
        listed = set(_indexes(payload.get("throttled_events", []), n))
        if listed:
            held = [i for i in live if i in listed]
        elif named:
            held = [i for i in live if chunk[i].keys & named]
        else:
            held = [] if over_quota else live  # 429 naming nothing: hold the whole request
        until = self.client._clock() + self.ep.throttle_hold_s
        for key in named or set().union(*(chunk[i].keys for i in held)):
            self.held_keys[key] = max(self.held_keys.get(key, 0.0), until)
        for i in held:
            self._hold(chunk[i], until)
        self.report.throttled_holds += len(held)
        self._sweep_queue()
        held_set = set(held)
        rest = [chunk[i] for i in live if i not in held_set]
        if rest:
            self.queue.appendleft(rest)

    def _hold(self, item: _Item, until: float) -> None:
        item.held_s += self.ep.throttle_hold_s
        if item.held_s > self.cfg.max_retry_seconds:
            self._reject([item.record], f"HTTP 429 still throttled after {item.held_s:g} s on hold (max_retry_seconds)")
        else:
            self.pool.append((until, item))

    def _sweep_queue(self) -> None:
        """Move queued records of held users/devices into the pool, keeping their order."""
        kept: deque[list[_Item]] = deque()
        for chunk in self.queue:
            rest = []
            for it in chunk:
                release = max((self.held_keys.get(k, 0.0) for k in it.keys), default=0.0)
                if release > self.client._clock():
                    self.pool.append((release, it))
                else:
                    rest.append(it)
            if rest:
                kept.append(rest)
        self.queue = kept

    def _release_due(self) -> None:
        now = self.client._clock()
        due = [it for t, it in self.pool if t <= now]
        if not due:
            return
        self.pool = [(t, it) for t, it in self.pool if t > now]
        self.held_keys = {k: t for k, t in self.held_keys.items() if t > now}
        self.queue.extendleft(reversed(self._pack(due)))

    def _reject(self, records: list[Any], reason: str) -> None:
        self.report.rejected_events += len(records)
        self.on_rejected(records, self.client._redact(reason))
