"""Push throughput: msgmetrics' Amplitude client against the official Amplitude Python SDK
and drt-core's Amplitude destination, side by side in one run (not a test).

    .venv/bin/pip install -e '.[bench]'          # amplitude-analytics and drt-core, pinned
    .venv/bin/python bench/bench_push.py                    # 200,000 events
    .venv/bin/python bench/bench_push.py --faults           # same, 5% seeded faults
    .venv/bin/python bench/bench_push.py --repeat 3         # best of 3 interleaved rounds (shared machines)
    .venv/bin/python bench/bench_push.py --response-delay 0.1   # every answer takes 100 ms, like a real round trip
    .venv/bin/python bench/bench_push.py --events 1000000 --only msgmetrics,msgmetrics-1 \
        --markdown bench/results/push-latest.md             # also write the table to bench/results

Every contender pushes the SAME N events (``--events``, default 200,000) to its own fresh
``FakeAmplitude`` started in-process on 127.0.0.1 with the same API key:

* msgmetrics: ``AmplitudeClient(AmplitudeConfig(api_key, ingest_url=fake.url))
  .send_events(events, on_accepted, on_rejected)``, default config (as ``msgmetrics demo`` uses:
  up to 4 requests in flight, never two for one user). The client picks its endpoint itself
  (``/batch`` above ``batch_threshold`` events, else ``/2/httpapi``); the "server saw" line shows
  which paths each contender used.
* msgmetrics-1: the same with ``concurrency=1`` (one request at a time, as before concurrency).
* amplitude-analytics (the official SDK), as its docs say:
  ``Amplitude(api_key, Config(server_url=fake.url + "/2/httpapi", callback=...))``, one
  ``track(BaseEvent(..., time=<int ms>, insert_id=<explicit>, event_properties=...))`` per
  event, then ``flush()`` and ``shutdown()``. All other settings are the SDK's defaults
  (200 events per request, 16 sender threads, 12 retries ~ 10 s of backoff).
* drt-core: ``AmplitudeDestination().load(rows, AmplitudeDestinationConfig(endpoint="event",
  ...), SyncOptions(...))`` called once per batch, as drt's engine (``drt/engine/sync.py``)
  does for a sync: flat rows (user_id, event_type, time, insert_id, one column per property)
  cut into ``sync.batch_size`` batches; a batch that fails stops the run under
  ``on_error: fail`` (drt's default). drt hard-codes the host, so the bench patches
  ``drt.destinations.amplitude._AMPLITUDE_HOSTS["default"]`` to the fake's URL while it runs.
  drt is measured at its fastest: ``sync.batch_size=1000`` (the destination's maximum) and
  ``rate_limit.requests_per_second=0`` (drt's documented "pacing disabled" sentinel). drt's
  defaults (100 rows per load, 10 requests/s) would cap it near 1,000 events/s.

Timed: from the first call into the contender until it returns (``send_events``; the last
``track`` + ``flush`` + ``shutdown``; the last ``load``). Building each contender's input
objects (dicts, ``BaseEvent`` s, flat rows) from the same generated rows is not timed. The
fake server shares the process (and the GIL) with the client for every contender, so its
parsing and validation cost is inside every wall time. "cpu s" is the CPU time of the whole
process (client + fake) over the same span; wall much above it means the machine was busy.

The fakes enforce Amplitude's per-user/device throughput (``--eps-window``, default 30 s: 30 events/s
on /2/httpapi, 1000 on /batch, averaged over the window), so a contender that sends one user's events
faster than Amplitude allows gets 429s here too; ``--response-delay`` makes every answer wait (the
fake answers in microseconds, Amplitude in about 100-300 ms), which is where requests in flight
at once pay off. The fake reports its peak of requests being answered at once and the requests that
shared a user with another one in flight ("overlap").

Counts come from the server: requests it received, events it stored, distinct insert_ids,
duplicates it dropped (a resend of an already stored insert_id), lost = N - distinct stored,
and "changed" = stored events whose user_id/event_type/time/event_properties differ from
what was generated. ``--faults`` gives every fake the same seeded random fault rate
(``FakeAmplitude(fault_rate=0.05, seed=...)``: 429, 500, ingest_then_500 or 503, drawn per
request), so the contenders see the same rate, not the same requests.

If drt-core (or the SDK) cannot be imported, that contender is reported as
"skipped: <why>". drt-core 1.2.1 installs beside the pinned dbt-core/dlt/duckdb set without
conflicts (``pip check`` is clean). Should a later version conflict, leave it out of the
``bench`` extra, install it into a separate venv and put that venv's site-packages last on
the path for the bench run only:

    python3.11 -m venv /tmp/drt-venv && /tmp/drt-venv/bin/pip install drt-core==1.2.1
    PYTHONPATH=/tmp/drt-venv/lib/python3.11/site-packages .venv/bin/python bench/bench_push.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from msgmetrics.amplitude import AmplitudeClient, AmplitudeConfig, AmplitudeError
from msgmetrics.amplitude.fake_server import RANDOM_FAULTS, FakeAmplitude
from msgmetrics.push.payloads import event_payload

API_KEY = "bench-api-key-0123456789abcdef"
EVENT_TYPE = "Email Link Clicked"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAYS = 30


# -- events ----------------------------------------------------------------


def mart_rows(n: int, users: int, seed: int) -> list[dict]:
    """N fct_amplitude_events-shaped rows (email link clicks), deterministic for (n, users, seed),
    in the order msgmetrics' push plan reads them (user_id, time, insert_id)."""
    rng = random.Random(seed)
    campaigns = [(cid, [rng.randrange(1, 400) for _ in range(3)]) for cid in range(101, 141)]
    rows = []
    for i in range(n):
        campaign_id, actions = campaigns[rng.randrange(len(campaigns))]
        event_id = f"01K{i:09X}{rng.getrandbits(70):014X}"  # unique: the index is part of it
        link_id = rng.randrange(1, 12)
        rows.append({
            "event_id": event_id,
            "user_id": f"cust-{rng.randrange(users):06d}",
            "event_type": EVENT_TYPE,
            "time_ms": START_MS + rng.randrange(DAYS * 86_400_000),
            "insert_id": f"cio-{event_id}",
            "channel": "email",
            "metric": "clicked",
            "delivery_id": f"RPILAgUBcRhIBqSp{rng.getrandbits(64):016x}",
            "parent_type": "campaign",
            "campaign_id": campaign_id,
            "action_id": actions[rng.randrange(3)],
            "content_id": rng.randrange(1, 6),
            "href": f"https://shop.example.com/products/sku-{rng.randrange(10_000):05d}"
                    f"?utm_source=customerio&utm_medium=email&utm_campaign=c{campaign_id}",
            "link_id": link_id,
            "is_machine": rng.random() < 0.03,
        })
    rows.sort(key=lambda r: (r["user_id"], r["time_ms"], r["insert_id"]))
    return rows


def expected_content(events: list[dict]) -> dict[str, tuple]:
    return {e["insert_id"]: (e["user_id"], e["event_type"], e["time"], e["event_properties"]) for e in events}


# -- results -----------------------------------------------------------------


@dataclass
class Result:
    name: str
    wall_s: float | None = None
    cpu_s: float = 0.0  # CPU of the whole process (client + the in-process fake server) while timed
    requests: int = 0
    stored: int = 0
    distinct: int = 0
    duplicates_dropped: int = 0
    changed: int = 0
    foreign: int = 0  # stored insert_ids the bench never generated
    skipped: str | None = None
    peak_concurrent: int = 0
    overlapping: int = 0
    notes: list[str] = field(default_factory=list)

    def lost(self, n: int) -> int:
        return n - self.distinct

    def rate(self, n: int) -> float:
        return n / self.wall_s if self.wall_s else 0.0


def from_server(result: Result, fake: FakeAmplitude, expected: dict[str, tuple]) -> Result:
    """Fill the server-side counts of ``result`` from ``fake``."""
    stored = fake.events
    requests = fake.requests
    result.requests = len(requests)
    by_path_status = Counter((path, status) for path, status, _ in requests)
    result.notes.append("server saw: " + ", ".join(
        f"{path} {status} x{count:,}" for (path, status), count in sorted(by_path_status.items())))
    result.stored = len(stored)
    result.distinct = len({e.get("insert_id") for e in stored if e.get("insert_id") in expected})
    result.foreign = sum(1 for e in stored if e.get("insert_id") not in expected)
    result.duplicates_dropped = fake.duplicates_dropped
    result.peak_concurrent = fake.peak_concurrent_requests
    result.overlapping = fake.overlapping_requests
    result.changed = sum(
        1 for e in stored
        if e.get("insert_id") in expected
        and (e.get("user_id"), e.get("event_type"), e.get("time"), e.get("event_properties"))
        != expected[e["insert_id"]]
    )
    if result.foreign:
        result.notes.append(f"{result.foreign:,} stored events carry insert_ids the bench did not generate")
    return result


class Stopwatch:
    """Wall clock and process CPU time (all threads) from construction to ``stop``."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self, result: Result) -> None:
        result.wall_s = time.perf_counter() - self.wall0
        result.cpu_s = time.process_time() - self.cpu0


FAKE_SETTINGS = {"response_delay_s": 0.0, "eps_window_s": 30.0}  # set from --response-delay / --eps-window


def fake_server(fault_rate: float, seed: int) -> FakeAmplitude:
    return FakeAmplitude(api_key=API_KEY, fault_rate=fault_rate, seed=seed,
                         max_events_per_user_per_request=None, **FAKE_SETTINGS).start()


# -- contenders ----------------------------------------------------------------


def run_msgmetrics(rows: list[dict], fault_rate: float, seed: int, concurrency: int | None = None) -> Result:
    events = [event_payload(r) for r in rows]
    result = Result("msgmetrics" if concurrency is None else f"msgmetrics-{concurrency}")
    extra = {} if concurrency is None else {"concurrency": concurrency}
    outcome: Counter = Counter()

    def on_accepted(records: list[dict]) -> None:
        outcome["accepted"] += len(records)

    def on_rejected(records: list[dict], reason: str) -> None:
        outcome[f"rejected: {reason[:60]}"] += len(records)

    slept = [0.0]

    def sleep(seconds: float) -> None:  # time.sleep, counted: backoff and 429 holds
        slept[0] += seconds
        time.sleep(seconds)

    fake = fake_server(fault_rate, seed)
    try:
        with AmplitudeClient(AmplitudeConfig(api_key=API_KEY, ingest_url=fake.url, **extra), sleep=sleep) as client:
            watch = Stopwatch()
            try:
                report = client.send_events(events, on_accepted, on_rejected)
                result.notes.append(f"client: {report.sent_requests:,} requests, {report.retries:,} retries, "
                                    f"{report.throttled_holds:,} events held on 429, {slept[0]:.1f} s asleep "
                                    "(5xx backoff + 429 holds of 30 s)")
            except AmplitudeError as exc:
                result.notes.append(f"send_events raised {type(exc).__name__}: {exc}")
            watch.stop(result)
        result.notes.append("callbacks: " + _outcomes(outcome, len(events)))
        return from_server(result, fake, expected_content(events))
    finally:
        fake.stop()


def run_amplitude_sdk(rows: list[dict], fault_rate: float, seed: int) -> Result:
    result = Result("amplitude-analytics")
    try:
        from amplitude import Amplitude, BaseEvent, Config
    except ImportError as exc:
        result.skipped = f"amplitude-analytics not importable ({exc}); pip install -e '.[bench]'"
        return result
    events = [event_payload(r) for r in rows]
    sdk_events = [
        BaseEvent(event_type=e["event_type"], user_id=e["user_id"], time=e["time"],
                  insert_id=e["insert_id"], event_properties=dict(e["event_properties"]))
        for e in events
    ]
    outcome: Counter = Counter()
    lock = threading.Lock()

    def callback(event, code: int, message: str | None) -> None:  # called from the SDK's threads
        with lock:
            outcome["accepted" if code == 200 else f"HTTP {code}: {(message or '')[:60]}"] += 1

    fake = fake_server(fault_rate, seed)
    try:
        client = Amplitude(API_KEY, Config(server_url=fake.url + "/2/httpapi", callback=callback))
        watch = Stopwatch()
        for event in sdk_events:
            client.track(event)
        tracked = time.perf_counter() - watch.wall0
        client.flush()
        client.shutdown()
        watch.stop(result)
        result.notes.append(f"track() loop {tracked:.2f} s, flush() + shutdown() {result.wall_s - tracked:.2f} s")
        with lock:
            result.notes.append("callbacks: " + _outcomes(outcome, len(events)))
        return from_server(result, fake, expected_content(events))
    finally:
        fake.stop()


def run_drt(rows: list[dict], fault_rate: float, seed: int) -> Result:
    result = Result("drt-core")
    try:
        import drt.destinations.amplitude as drt_amplitude
        from drt.config.models import AmplitudeDestinationConfig, RateLimitConfig, SyncOptions
    except ImportError as exc:
        result.skipped = f"drt-core not importable ({exc}); pip install -e '.[bench]'"
        return result
    events = [event_payload(r) for r in rows]
    # A dbt model row as drt reads it: one column per field; non-reserved columns become event_properties.
    flat = [{"user_id": e["user_id"], "event_type": e["event_type"], "time": e["time"],
             "insert_id": e["insert_id"], **e["event_properties"]} for e in events]
    config = AmplitudeDestinationConfig(
        type="amplitude", api_key=API_KEY, api_key_env=None, endpoint="event", user_id_field="user_id",
        event_type_field="event_type", time_field="time", insert_id_field="insert_id", batch_size=1000,
    )
    sync = SyncOptions(batch_size=1000, rate_limit=RateLimitConfig(requests_per_second=0))
    destination = drt_amplitude.AmplitudeDestination()
    success = failed = 0

    fake = fake_server(fault_rate, seed)
    hosts = drt_amplitude._AMPLITUDE_HOSTS
    drt_amplitude._AMPLITUDE_HOSTS = {**hosts, "default": fake.url}  # drt hard-codes api2.amplitude.com
    result.notes.append(f"patched drt.destinations.amplitude._AMPLITUDE_HOSTS['default'] = {fake.url} "
                        "(host is hard-coded in drt)")
    result.notes.append(f"driven like drt's engine: load() per {sync.batch_size} rows, rate_limit "
                        f"{sync.rate_limit.requests_per_second:g} (off), retry {sync.retry.max_attempts} attempts, "
                        f"on_error={sync.on_error}")
    try:
        watch = Stopwatch()
        for i in range(0, len(flat), sync.batch_size):
            batch = flat[i:i + sync.batch_size]
            loaded = destination.load(batch, config, sync)
            success += loaded.success
            failed += loaded.failed
            if sync.on_error == "fail" and loaded.failed > 0:  # what drt's engine does
                result.notes.append(f"sync stopped at row {i:,} under on_error=fail: "
                                    f"{loaded.row_errors[0].error_message[:80] if loaded.row_errors else ''}")
                break
        watch.stop(result)
        result.notes.append(f"SyncResult: success {success:,}, failed {failed:,}, "
                            f"never sent {len(flat) - success - failed:,}")
        return from_server(result, fake, expected_content(events))
    finally:
        drt_amplitude._AMPLITUDE_HOSTS = hosts
        fake.stop()


CONTENDERS = {"msgmetrics": run_msgmetrics, "msgmetrics-1": lambda *a: run_msgmetrics(*a, concurrency=1),
              "sdk": run_amplitude_sdk, "drt": run_drt}


def _outcomes(outcome: Counter, n: int) -> str:
    parts = [f"{k} {v:,}" for k, v in sorted(outcome.items(), key=lambda kv: kv[0] != "accepted")]
    unreported = n - sum(outcome.values())
    if unreported:
        parts.append(f"never reported {unreported:,}")
    return ", ".join(parts) or "none"


# -- report ------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


COLUMNS = ("contender", "wall s", "cpu s", "events/s", "requests", "stored", "distinct", "dup dropped", "lost",
           "changed", "peak conc", "overlap", "msgmetrics x")
HEADER = (f"{'contender':<20} {'wall s':>7} {'cpu s':>6} {'events/s':>9} {'requests':>8} {'stored':>8} "
          f"{'distinct':>8} {'dup dropped':>11} {'lost':>7} {'changed':>7} {'peak conc':>9} {'overlap':>7} "
          f"{'msgmetrics x':>12}")


def cells(r: Result, n: int, mm_rate: float | None) -> list[str]:
    if r.skipped:
        return [r.name, "skipped: " + r.skipped] + [""] * (len(COLUMNS) - 2)
    ratio = "-" if r.name == "msgmetrics" or not mm_rate else f"{mm_rate / r.rate(n):.2f}x"
    return [r.name, f"{r.wall_s:.2f}", f"{r.cpu_s:.1f}", f"{r.rate(n):,.0f}", f"{r.requests:,}", f"{r.stored:,}",
            f"{r.distinct:,}", f"{r.duplicates_dropped:,}", f"{r.lost(n):,}", f"{r.changed:,}",
            str(r.peak_concurrent), f"{r.overlapping:,}", ratio]


def print_row(r: Result, n: int, mm_rate: float | None) -> None:
    if r.skipped:
        print(f"{r.name:<20} skipped: {r.skipped}")
        return
    ratio = "-" if r.name == "msgmetrics" or not mm_rate else f"{mm_rate / r.rate(n):.2f}x"
    print(f"{r.name:<20} {r.wall_s:>7.2f} {r.cpu_s:>6.1f} {r.rate(n):>9,.0f} {r.requests:>8,} {r.stored:>8,} "
          f"{r.distinct:>8,} {r.duplicates_dropped:>11,} {r.lost(n):>7,} {r.changed:>7,} {r.peak_concurrent:>9} "
          f"{r.overlapping:>7,} {ratio:>12}")


def best_of(rounds: list[Result], n: int) -> Result:
    """The round with the shortest wall time; notes list every round when there were several."""
    best = min(rounds, key=lambda r: r.wall_s or float("inf"))
    if len(rounds) > 1 and not best.skipped:
        best.notes.append("rounds (wall s / lost / duplicates stored): " + ", ".join(
            f"{r.wall_s:.2f}/{r.lost(n):,}/{r.stored - r.distinct:,}" for r in rounds))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated events")
    ap.add_argument("--faults", action="store_true", help="inject seeded random faults into every fake server")
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--fault-seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of all contenders, interleaved; the table shows each one's fastest round")
    ap.add_argument("--only", default="msgmetrics,msgmetrics-1,sdk,drt",
                    help="comma-separated subset of: msgmetrics,msgmetrics-1,sdk,drt")
    ap.add_argument("--response-delay", type=float, default=0.0,
                    help="seconds every fake answer waits (a round trip to Amplitude is about 0.1-0.3)")
    ap.add_argument("--eps-window", type=float, default=30.0,
                    help="window of the fakes' per-user/device eps limits (30/s httpapi, 1000/s batch); 0 = off")
    ap.add_argument("--markdown", default=None, help="also write the table and notes as Markdown to this file")
    args = ap.parse_args()
    FAKE_SETTINGS.update(response_delay_s=args.response_delay, eps_window_s=args.eps_window or None)
    fault_rate = args.fault_rate if args.faults else 0.0
    keys = list(dict.fromkeys(k.strip() for k in args.only.split(",") if k.strip()))
    unknown = [k for k in keys if k not in CONTENDERS]
    if unknown:
        ap.error(f"unknown contender(s) {unknown}; choose from {sorted(CONTENDERS)}")

    rows = mart_rows(args.events, args.users, args.seed)
    n = len(rows)
    sample = event_payload(rows[0])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    context: list[str] = []
    print = _tee(context)  # noqa: A001 - the context lines also go to --markdown
    print(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start")
    print(f"versions: msgmetrics {_version('msgmetrics')} (requests {_version('requests')}), "
          f"amplitude-analytics {_version('amplitude-analytics')}, "
          f"drt-core {_version('drt-core')} (httpx {_version('httpx')})")
    print(f"events: {n:,} '{EVENT_TYPE}' over {len({r['user_id'] for r in rows}):,} users, "
          f"{len(sample['event_properties'])} event_properties, "
          f"~{len(json.dumps(sample, separators=(',', ':')))} bytes each as compact JSON, seed {args.seed}")
    print("faults: " + (f"{fault_rate:.0%} of requests, random among {'/'.join(RANDOM_FAULTS)}, "
                        f"seed {args.fault_seed} (same for every fake server)" if fault_rate else "none"))
    print(f"fake: every answer waits {args.response_delay:g} s; per-user eps limits "
          + (f"averaged over {args.eps_window:g} s" if args.eps_window else "off"))
    print(f"rounds: {args.repeat} (table: each contender's fastest round)" if args.repeat > 1 else "rounds: 1")
    import builtins

    print = builtins.print  # noqa: A001
    print(flush=True)

    rounds: dict[str, list[Result]] = {k: [] for k in keys}
    for i in range(args.repeat):
        for key in keys:
            gc.collect()
            result = CONTENDERS[key](rows, fault_rate, args.fault_seed)
            rounds[key].append(result)
            print(f"  round {i + 1}: {result.name} " + (f"{result.wall_s:.2f} s" if result.wall_s else "skipped"),
                  flush=True)
    results = [best_of(rounds[k], n) for k in keys]

    mm = next((r for r in results if r.name == "msgmetrics" and not r.skipped), None)
    mm_rate = mm.rate(n) if mm else None
    print()
    print(HEADER)
    for r in results:
        print_row(r, n, mm_rate)
    print()
    for r in results:
        for note in r.notes:
            print(f"{r.name}: {note}")

    peers = [r for r in results if not r.name.startswith("msgmetrics") and not r.skipped]
    if mm and peers:
        fastest = max(peers, key=lambda r: r.rate(n))
        speedup = mm_rate / fastest.rate(n)
        mm_rounds = rounds["msgmetrics"]
        lost = max(r.lost(n) for r in mm_rounds)
        dups = max(r.stored - r.distinct for r in mm_rounds)
        clean = lost == 0 and dups == 0 and all(r.changed == 0 and r.foreign == 0 for r in mm_rounds)
        met = speedup >= 2.0 and clean
        mode = f"faults {fault_rate:.0%}" if fault_rate else "no faults"
        print()
        print(f"goal (>= 2x the faster peer, 0 lost, 0 duplicates stored; this run: {mode}): "
              f"{'MET' if met else 'NOT MET'} - msgmetrics {mm_rate:,.0f} events/s = {speedup:.2f}x "
              f"{fastest.name} ({fastest.rate(n):,.0f} events/s); msgmetrics lost {lost:,}, "
              f"duplicates stored {dups:,}, changed {sum(r.changed for r in mm_rounds):,} (worst of its rounds)")
    if args.markdown:
        write_markdown(args.markdown, started, context, results, n, mm_rate)


def _tee(lines: list[str]):
    import builtins

    def echo(*parts, **kwargs) -> None:
        builtins.print(*parts, **kwargs)
        text = " ".join(str(p) for p in parts)
        if text:
            lines.append(text)

    return echo


def write_markdown(path: str, started: str, context: list[str], results: list[Result], n: int,
                   mm_rate: float | None) -> None:
    import sys
    from pathlib import Path

    out = [f"# msgmetrics push bench (client vs peers)", "",
           f"`.venv/bin/python bench/bench_push.py {' '.join(sys.argv[1:])}` — {started}", ""]
    out += [f"- {line}" for line in context] + [""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|---|" + "---:|" * (len(COLUMNS) - 1))
    out += ["| " + " | ".join(cells(r, n, mm_rate)) + " |" for r in results]
    out.append("")
    out += [f"- {r.name}: {note}" for r in results for note in r.notes]
    out.append("")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out))
    print(f"markdown written to {target}")


if __name__ == "__main__":
    main()
