"""HTTP for the App API: a client-side rate limiter, retries, clear errors, and paging
through dlt's RESTClient.

* Every request start (retries included) goes through :class:`RateLimiter`: one start
  every 107.5 ms at most (10 per 1.075 s), so the server never sees more than 10 in a second;
  after a 429 the pace slows by 5% (at most to one per 125 ms).
* 429 with ``Retry-After``: wait that long, then send again (not counted as a failure).
  429 without it is a daily quota (§2.2): stop with a clear error.
* 5xx, connection errors and timeouts: exponential backoff with jitter, a few attempts.
* 401: stop at once (a wrong key, or an EU key on the US host); 403 and other 4xx: stop.
* The key goes in an ``Authorization: Bearer`` header added at send time; it is never
  logged or put in an error message.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import orjson
import requests
from requests.auth import AuthBase
from requests.exceptions import ChunkedEncodingError, ConnectionError, Timeout

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from .settings import MAX_REQUESTS_PER_S, RATE_WINDOW_S

log = logging.getLogger(__name__)

KEY_HELP = ("Check CUSTOMERIO_APP_API_KEY (an App API key: Settings > Workspace Settings > API "
            "Credentials > App API Keys); a workspace in the EU data center needs CUSTOMERIO_REGION=eu.")


class AppApiError(RuntimeError):
    """The App API refused or failed in a way retrying will not fix."""


class AppApiAuthError(AppApiError):
    """401: the key is wrong, or belongs to the other region's data center."""


class RateLimiter:
    """At most ``max_requests`` starts per ``window_s``, evenly spaced (one every
    ``window_s / max_requests``), so no second, however it is cut, holds more; thread-safe."""

    def __init__(self, max_requests: int = MAX_REQUESTS_PER_S, window_s: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        self.interval_s = window_s / max_requests
        self._clock, self._sleep = clock, sleep
        self._next_start: float | None = None
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def slow_down(self, factor: float = 1.05, max_interval_s: float = 0.125) -> None:
        """After a 429 for going over the per-second limit: a slightly slower pace for the rest
        of the run (the path to the server is more jittery than the margin allows for)."""
        with self._lock:
            self.interval_s = min(max_interval_s, self.interval_s * factor)

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            if self._next_start is not None and now < self._next_start:
                wait = self._next_start - now
                self.waited_s += wait
                self._sleep(wait)
                now = self._clock()
            self._next_start = now + self.interval_s


class BearerAuth(AuthBase):
    """``Authorization: Bearer <key>``, added when the request is prepared; never shown."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


@dataclass
class RequestStats:
    """What the HTTP layer did, for progress lines and the summary."""

    requests: int = 0  # attempts sent, retries included
    throttled: int = 0  # 429 answers
    server_errors: int = 0  # 5xx answers and connection failures retried
    started_at: float | None = None
    finished_at: float | None = None
    by_path: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, path: str | None = None) -> None:
        """Count one event (thread-safe: several fetch threads share the stats)."""
        with self._lock:
            now = time.monotonic()
            if counter == "requests":
                self.started_at = now if self.started_at is None else self.started_at
                self.by_path[path] = self.by_path.get(path, 0) + 1
            setattr(self, counter, getattr(self, counter) + 1)

    def answered(self) -> None:
        with self._lock:
            self.finished_at = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None or self.finished_at is None:
            return 0.0
        return self.finished_at - self.started_at

    @property
    def requests_per_s(self) -> float:
        # n requests span n-1 intervals; a single request has no rate
        return (self.requests - 1) / self.elapsed_s if self.requests > 1 and self.elapsed_s > 0 else 0.0


def _detail(response: requests.Response) -> str:
    """The `errors[].detail` text of an error answer (or its start), for error messages."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(str(e.get("detail") or e) for e in errors if isinstance(e, dict))
    except ValueError:
        text = response.text
    text = (text or response.reason or "").strip()
    return text[:300]


def _retry_after(response: requests.Response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _parse_once(response: requests.Response) -> None:
    """`response.json()` parsed once, with orjson: dlt's RESTClient reads the body twice per
    page (data and `next` cursor), and a 1000-delivery page is ~0.7 MB."""
    cache: list = []

    def parsed(**_: Any) -> Any:
        if not cache:
            cache.append(orjson.loads(response.content))
        return cache[0]

    response.json = parsed  # type: ignore[method-assign]


class AppApiSession(requests.Session):
    """A requests session whose ``send`` rate-limits, retries and raises :class:`AppApiError`."""

    def __init__(self, limiter: RateLimiter, stats: RequestStats, *, max_attempts: int = 6,
                 max_throttled: int = 30, backoff_base_s: float = 1.0, backoff_max_s: float = 30.0,
                 timeout_s: float = 60.0, sleep: Callable[[float], None] = time.sleep, region_hint: str = ""):
        super().__init__()
        self.limiter, self.stats = limiter, stats
        self.max_attempts, self.max_throttled = max_attempts, max_throttled
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.timeout_s, self._sleep = timeout_s, sleep
        self.region_hint = region_hint
        self.headers["User-Agent"] = "msgmetrics (dlt RESTClient)"
        self.headers["Accept"] = "application/json"

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
        return delay * (0.5 + random.random() / 2)

    def send(self, request, **kwargs):  # noqa: C901 - one retry loop, read top to bottom
        kwargs.setdefault("timeout", self.timeout_s)
        where = request.url.split("?")[0]
        failures = throttled = 0
        while True:
            self.limiter.acquire()
            self.stats.add("requests", requests.utils.urlparse(request.url).path)
            try:
                response = super().send(request, **kwargs)
            except (ConnectionError, Timeout, ChunkedEncodingError) as exc:
                self.stats.answered()
                failures += 1
                self.stats.add("server_errors")
                if failures >= self.max_attempts:
                    raise AppApiError(f"Customer.io App API unreachable at {where} after {failures} attempts "
                                      f"({type(exc).__name__}). Check the network or CUSTOMERIO_API_URL, then run "
                                      "the load again; nothing from this run was loaded.") from None
                delay = self._backoff(failures)
                log.warning("%s failed (%s); retrying in %.1f s", where, type(exc).__name__, delay)
                self._sleep(delay)
                continue
            self.stats.answered()
            status = response.status_code
            if status < 400:
                _parse_once(response)
                return response
            if status == 429:
                throttled += 1
                self.stats.add("throttled")
                wait = _retry_after(response)
                response.close()
                if wait is None:
                    raise AppApiError(f"Customer.io App API quota reached at {where} (429 without Retry-After: a "
                                      "daily quota). Run the load again later; nothing from this run was loaded.")
                if throttled > self.max_throttled:
                    raise AppApiError(f"Customer.io App API kept answering 429 at {where} ({throttled} times). "
                                      "Another client may share this key's 10 requests/s; run the load again later.")
                self.limiter.slow_down()
                log.info("%s answered 429: waiting %.1f s (Retry-After), then one request every %.0f ms",
                         where, wait, self.limiter.interval_s * 1000)
                self._sleep(wait)
                continue
            if status >= 500:
                failures += 1
                self.stats.add("server_errors")
                detail = _detail(response)
                response.close()
                if failures >= self.max_attempts:
                    raise AppApiError(f"Customer.io App API answered {status} at {where} {failures} times "
                                      f"({detail}). Run the load again later; nothing from this run was loaded.")
                delay = self._backoff(failures)
                log.warning("%s answered %d; retrying in %.1f s", where, status, delay)
                self._sleep(delay)
                continue
            detail = _detail(response)
            response.close()
            if status == 401:
                raise AppApiAuthError(f"Customer.io App API answered 401 Unauthorized at {where}: the App API key "
                                      f"is not valid there{self.region_hint}. {KEY_HELP} Nothing was loaded.")
            if status == 403:
                raise AppApiError(f"Customer.io App API answered 403 Forbidden at {where} ({detail}): the key "
                                  "lacks the scope for this endpoint. Nothing was loaded.")
            raise AppApiError(f"Customer.io App API answered {status} at {where} ({detail}). Nothing was loaded.")


class CursorPaginator(JSONResponseCursorPaginator):
    """`next` read when present (the spec's /v1/messages schema omits it), sent back as
    `start`; stop when it is empty or missing. A cursor that repeats is an error, not a loop."""

    def __init__(self) -> None:
        super().__init__(cursor_path="next", cursor_param="start")
        self._seen: set[str] = set()

    def update_state(self, response, data=None) -> None:
        super().update_state(response, data)
        cursor = self._next_reference
        if cursor is not None:
            if cursor in self._seen:
                raise AppApiError(f"Customer.io App API returned the same `next` cursor twice at "
                                  f"{response.url.split('?')[0]}; stopping instead of looping")
            self._seen.add(cursor)


class AppApiClient:
    """One client per run, shared by every resource (so they share the rate limit)."""

    def __init__(self, api_key: str, base_url: str, *, max_requests_per_s: int = MAX_REQUESTS_PER_S,
                 rate_window_s: float = RATE_WINDOW_S, region_hint: str = "", **session_options: Any):
        if not api_key:
            raise AppApiError("no Customer.io App API key: set CUSTOMERIO_APP_API_KEY (or "
                              "sources.customerio_api.api_key in .dlt/secrets.toml)")
        self.base_url = base_url
        self.stats = RequestStats()
        self.limiter = RateLimiter(max(1, min(max_requests_per_s, MAX_REQUESTS_PER_S)), rate_window_s)
        self.session = AppApiSession(self.limiter, self.stats, region_hint=region_hint, **session_options)
        self.rest = RESTClient(base_url=base_url, auth=BearerAuth(api_key), session=self.session)

    def pages(self, path: str, data_key: str, params: dict | None = None) -> Iterator[list]:
        """The pages of a list endpoint (cursor paging), each a list of objects."""
        # no response hook: the session already raised for every error status
        yield from self.rest.paginate(path, params=dict(params or {}), paginator=CursorPaginator(),
                                      data_selector=data_key, hooks={"response": []})

    def pages_of_each(self, path: str, data_key: str, param_sets: list[dict], threads: int = 1,
                      transform: Callable[[list], Any] = lambda page: page, buffer: int = 16) -> Iterator[Any]:
        """`transform(page)` for the pages of `path` for each of `param_sets` (e.g. one per time
        window), fetched by up to `threads` threads that share the rate limiter, yielded as they
        arrive. Paging within one window is sequential (each page needs the previous `next`);
        windows overlap, so a slow answer does not idle the budget of 10 requests/s, and up to
        `buffer` transformed pages wait while the caller is busy (e.g. dlt writing a file).
        An error in any thread stops all and is raised."""
        threads = max(1, min(threads, len(param_sets)))
        if threads == 1:
            for params in param_sets:
                for page in self.pages(path, data_key, params):
                    yield transform(page)
            return
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for params in param_sets:
            todo.put(params)
        out: queue.Queue = queue.Queue(maxsize=buffer)
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                while not stop.is_set():
                    try:
                        params = todo.get_nowait()
                    except queue.Empty:
                        break
                    for page in self.pages(path, data_key, params):
                        if not put(transform(page)):
                            return
            except BaseException as exc:  # handed to the consuming thread
                put(exc)
            finally:
                put(done)

        workers = [threading.Thread(target=work, name=f"cio-fetch-{i}", daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        finished = 0
        try:
            while finished < len(workers):
                item = out.get()
                if item is done:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=120)

    def get_json(self, path: str, params: dict | None = None) -> Any:
        response = self.rest.get(path, params=params)
        try:
            return response.json()
        except ValueError:
            raise AppApiError(f"Customer.io App API answered non-JSON at {path}") from None
