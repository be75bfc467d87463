"""The HTTP side of the receiver (aiohttp): verify, validate, make durable, then answer.

``POST`` on any path is a reporting webhook (Customer.io posts to the URL you configure):

* 401 ``{"error": reason}``: missing or wrong signature, missing or stale timestamp (nothing written)
* 400: not a UTF-8 JSON object (nothing written; Customer.io retries it, so it is logged)
* 413: larger than ``--max-body-bytes``
* 503: the body could not be made durable in time, or the receiver is stopping (Customer.io retries)
* 200 ``{"status": "stored"}``: the body is on disk (written and fdatasync'ed)

``GET /healthz``: 200 while the receiver can store, 503 while its last write failed or it stops.

SIGTERM / Ctrl-C: the listening socket closes, requests in flight are answered, everything
accepted is committed and the active file is finished (renamed to ``.jsonl``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aiohttp import web

from . import settings
from .body import InvalidBody, jsonl_line
from .signature import SignatureVerifier
from .writer import DurableJsonlWriter, WriterError

log = logging.getLogger("msgmetrics.receiver")

_JSON = "application/json"
_STORED = b'{"status":"stored"}'
_TIMED_OUT = object()


@dataclass
class ReceiverConfig:
    out_dir: Path
    host: str = settings.DEFAULT_HOST
    port: int = settings.DEFAULT_PORT
    signing_key: bytes | None = field(default=None, repr=False)  # None: signatures not checked
    replay_window_s: int = settings.DEFAULT_REPLAY_WINDOW_S
    max_body_bytes: int = settings.DEFAULT_MAX_BODY_BYTES
    rotate_bytes: int = settings.DEFAULT_ROTATE_BYTES
    rotate_seconds: float = settings.DEFAULT_ROTATE_SECONDS
    answer_timeout_s: float = settings.DEFAULT_ANSWER_TIMEOUT_S
    shutdown_timeout_s: float = settings.DEFAULT_SHUTDOWN_TIMEOUT_S
    drain_s: float = settings.DEFAULT_DRAIN_S
    durable: bool = True  # False only in bench/bench_receiver.py


@dataclass
class Counters:
    accepted: int = 0
    unauthorized: int = 0
    invalid: int = 0
    too_large: int = 0
    unavailable: int = 0

    def snapshot(self) -> tuple[int, ...]:
        return (self.accepted, self.unauthorized, self.invalid, self.too_large, self.unavailable)


class _ThrottledWarnings:
    """Rejections are logged one by one, but at most `per_minute` lines a minute (a flood of bad
    requests must not flood the log); the rest are counted and summed up."""

    def __init__(self, per_minute: int = 30) -> None:
        self.per_minute = per_minute
        self._window = time.monotonic()
        self._logged = self._suppressed = 0

    def warning(self, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._window >= 60:
            if self._suppressed:
                log.warning("%d more rejected request(s) in the last minute were not logged", self._suppressed)
            self._window, self._logged, self._suppressed = now, 0, 0
        if self._logged < self.per_minute:
            self._logged += 1
            log.warning(message, *args)
        else:
            self._suppressed += 1


def _json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class Receiver:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.verifier = SignatureVerifier(
            key=config.signing_key or b"", replay_window_s=config.replay_window_s,
            enabled=config.signing_key is not None,
        )
        self.writer = DurableJsonlWriter(
            config.out_dir, on_commit=self._on_commit, rotate_bytes=config.rotate_bytes,
            rotate_seconds=config.rotate_seconds, durable=config.durable,
        )
        self.counters = Counters()
        self._rejections = _ThrottledWarnings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        exit_after = os.environ.get(settings.TEST_EXIT_AFTER_COMMIT_ENV)
        self._test_exit_after = int(exit_after) if exit_after else None
        self._test_committed = 0

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_get(settings.HEALTH_PATH, self._health)
        app.router.add_post("/{path:.*}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        response = await self._store(request)
        if self._stopping:
            response.force_close()  # "Connection: close": senders stop reusing this connection
        return response

    async def _store(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.counters.too_large += 1
            self._rejections.warning("413 from %s: body larger than %d bytes", self._peer(request),
                                     self.config.max_body_bytes)
            return _json_error(413, f"body larger than {self.config.max_body_bytes} bytes")
        except ConnectionError:  # the sender went away mid-body: nothing to store, nobody to answer
            log.debug("connection from %s lost while reading the body", self._peer(request))
            return _json_error(400, "incomplete body")
        headers = request.headers
        reason = self.verifier.check(headers.get(settings.TIMESTAMP_HEADER), headers.get(settings.SIGNATURE_HEADER),
                                     raw, time.time())
        if reason:
            self.counters.unauthorized += 1
            self._rejections.warning("401 from %s: %s", self._peer(request), reason)
            return _json_error(401, reason)
        try:
            line = jsonl_line(raw)
        except InvalidBody as exc:
            self.counters.invalid += 1
            # Customer.io retries a 400 (after an hour) and holds back later webhooks meanwhile
            self._rejections.warning("400 from %s: a body of %d bytes is %s; Customer.io will retry it "
                                     "and hold back later webhooks until it gets a 2xx", self._peer(request),
                                     len(raw), exc)
            return _json_error(400, str(exc))
        loop = self._loop
        future = loop.create_future()
        try:
            self.writer.submit(line, future)
        except WriterError as exc:
            self.counters.unavailable += 1
            return _json_error(503, str(exc))
        timer = loop.call_later(self.config.answer_timeout_s, _expire, future)
        try:
            outcome = await future
        finally:
            timer.cancel()
        if outcome is None:
            self.counters.accepted += 1
            return web.Response(body=_STORED, content_type=_JSON)
        self.counters.unavailable += 1
        if outcome is _TIMED_OUT:
            log.error("a webhook was not durable after %.1f s; answered 503 (Customer.io retries it)",
                      self.config.answer_timeout_s)
            return _json_error(503, "storage too slow; retry")
        return _json_error(503, "could not store the event; retry")

    async def _health(self, request: web.Request) -> web.Response:
        stats = self.writer.stats
        status = "stopping" if self._stopping else ("failing" if stats.last_error else "ok")
        body = {
            "status": status,
            "signature_check": "on" if self.verifier.enabled else "OFF (--insecure-no-signature)",
            "accepted": self.counters.accepted,
            "rejected": {"401": self.counters.unauthorized, "400": self.counters.invalid,
                         "413": self.counters.too_large, "503": self.counters.unavailable},
            "files_finished": stats.files_finished,
            "active_file": self.writer.active_file,
            "last_error": stats.last_error,
        }
        return web.json_response(body, status=200 if status == "ok" else 503)

    @staticmethod
    def _peer(request: web.Request) -> str:
        return request.headers.get("X-Forwarded-For") or request.remote or "?"

    # ------------------------------------------------------------------ writer thread -> loop
    def _on_commit(self, futures: list, error: OSError | None) -> None:
        if self._test_exit_after is not None and error is None:
            self._test_committed += len(futures)
            if self._test_committed >= self._test_exit_after:
                # test-only crash: the lines are fsynced, no answer has been sent
                os._exit(settings.TEST_EXIT_CODE)
        self._loop.call_soon_threadsafe(_resolve, futures, error)

    # ------------------------------------------------------------------ run
    async def serve(self, stop: asyncio.Event, ready: Callable[[str, int], None] | None = None) -> None:
        """Serve until `stop` is set, then shut down gracefully."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        if not self.verifier.enabled:
            log.warning("!!! SIGNATURE CHECK DISABLED (--insecure-no-signature): anyone who can reach this port "
                        "can write events. For local testing only; set %s in production. !!!",
                        settings.SIGNING_KEY_ENV)
        recovered = self.writer.open()
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=cfg.shutdown_timeout_s)
        try:
            await runner.setup()
            sock = socket.create_server((cfg.host, cfg.port), backlog=1024)
            site = web.SockSite(runner, sock, shutdown_timeout=cfg.shutdown_timeout_s, backlog=1024)
            await site.start()
            host, port = sock.getsockname()[:2]
            log.info("listening on http://%s:%d (health: GET %s; pid %d); writing to %s (rotate at %d bytes or "
                     "%g s; replay window %d s; %d file(s) from a previous run finished)", host, port,
                     settings.HEALTH_PATH, os.getpid(), cfg.out_dir, cfg.rotate_bytes, cfg.rotate_seconds,
                     cfg.replay_window_s, len(recovered))
            if ready:
                ready(host, port)
            reporter = asyncio.create_task(self._report_progress())
            await stop.wait()
            reporter.cancel()
            log.info("shutting down: no new connections; answering the requests in flight")
            await self._drain(runner, site)
        finally:
            await runner.cleanup()
            await asyncio.get_running_loop().run_in_executor(None, self.writer.close)
        self._log_totals("stopped")

    async def _drain(self, runner: web.AppRunner, site: web.BaseSite) -> None:
        """Close the listening socket and let open connections finish for up to `drain_s`.

        Answers now carry "Connection: close" and health says 503. Only then are the remaining
        (idle) connections closed: aiohttp drops bytes that arrive on a connection it is closing,
        so a request caught half-sent at that moment would hang until `shutdown_timeout_s`."""
        self._stopping = True
        await site.stop()
        deadline = time.monotonic() + self.config.drain_s
        while runner.server is not None and runner.server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _report_progress(self, every_s: float = 60.0) -> None:
        last = self.counters.snapshot()
        while True:
            await asyncio.sleep(every_s)
            if self.counters.snapshot() != last:
                self._log_totals("running")
                last = self.counters.snapshot()

    def _log_totals(self, state: str) -> None:
        c, s = self.counters, self.writer.stats
        log.info("%s: %d webhook(s) stored in %d sync(s); rejected 401: %d, 400: %d, 413: %d; 503: %d; "
                 "%d file(s) finished", state, c.accepted, s.batches, c.unauthorized, c.invalid, c.too_large,
                 c.unavailable, s.files_finished)


def _resolve(futures: list, error: OSError | None) -> None:
    for future in futures:
        if not future.done():
            future.set_result(error)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


def run(config: ReceiverConfig) -> None:
    """Serve until SIGTERM or Ctrl-C."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Receiver(config).serve(stop)

    # The writer thread needs the GIL back after each fdatasync to hand its batch to the loop; by
    # default a busy loop keeps it up to 5 ms, which adds straight to every answer time.
    sys.setswitchinterval(settings.GIL_SWITCH_INTERVAL_S)
    asyncio.run(main())
