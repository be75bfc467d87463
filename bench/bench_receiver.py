"""Webhook receiver throughput and answer times on loopback, against two baselines, side by side.

    .venv/bin/python bench/bench_receiver.py --seconds 20 --connections 20

Each run sends signed, realistic bodies (from `msgmetrics.generate`, signed with a fresh
X-CIO-Timestamp per request) over N keep-alive connections for a bounded time, and prints
requests/s sustained, p50 / p99 / max answer time, and requests per sync (group commit):

* ``bare``      an aiohttp server answering 200 to every POST: no check, no parse, no write
                (the ceiling of this client and aiohttp on this machine)
* ``no-fsync``  the real receiver code with fdatasync switched off (an internal flag, bench only)
* ``receiver``  `msgmetrics serve-webhooks` as shipped: signature, JSON check, write + fdatasync

The client runs in this process (aiohttp), the server in a subprocess: on a 2-core machine they
compete for CPU, so figures are a floor for a dedicated host. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-signing-key"


# ---------------------------------------------------------------- servers (run as subprocesses)
def serve_bare() -> None:
    import socket

    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"status":"stored"}', content_type="application/json")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/{path:.*}", ok)
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]} (pid {os.getpid()})", file=sys.stderr, flush=True)
    web.run_app(app, sock=sock, access_log=None, print=None)


def serve_no_fsync(port: int, out_dir: str) -> None:
    import logging

    from msgmetrics.receiver.server import ReceiverConfig, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(ReceiverConfig(out_dir=Path(out_dir), port=port, signing_key=KEY.encode(), durable=False))


def start_server(variant: str, out_dir: Path) -> tuple[subprocess.Popen, int, list[str]]:
    if variant == "receiver":
        cmd = [sys.executable, "-m", "msgmetrics.cli", "serve-webhooks", "--out", str(out_dir), "--port", "0"]
    else:
        cmd = [sys.executable, __file__, "--serve", variant, "--out", str(out_dir)]
    env = {**os.environ, "CUSTOMERIO_WEBHOOK_SIGNING_KEY": KEY}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1)), lines
    raise SystemExit(f"{variant} server did not start:\n{''.join(lines)}")


# ---------------------------------------------------------------- client
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, bodies: list[bytes], connections: int, seconds: float, on_window) -> dict:
    key = KEY.encode()
    latencies: list[float] = []
    codes: Counter = Counter()
    warmup_until = time.perf_counter() + 1.0  # not counted: connection set-up, first file, caches
    stop_at = warmup_until + seconds

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        i = offset
        while True:
            body = bodies[i % len(bodies)]
            i += connections
            ts = str(int(time.time()))
            sig = hmac.new(key, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
            headers = {"X-CIO-Timestamp": ts, "X-CIO-Signature": sig, "Content-Type": "application/json"}
            started = time.perf_counter()
            if started >= stop_at:
                return
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
            if started >= warmup_until:
                latencies.append(time.perf_counter() - started)
                codes[answer.status] += 1

    async def window_edges() -> None:  # the server's CPU time at the start and end of the measured window
        await asyncio.sleep(max(0.0, warmup_until - time.perf_counter()))
        on_window("start")
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        on_window("end")

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(window_edges(), *(worker(session, n) for n in range(connections)))
    return {"latencies": latencies, "seconds": seconds, "codes": codes}


def summarise(rounds: list[dict]) -> dict:
    latencies = sorted(x for r in rounds for x in r["latencies"])
    seconds = sum(r["seconds"] for r in rounds)
    codes = sum((r["codes"] for r in rounds), Counter())
    out = {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
        "codes": dict(codes),
        "server_cpu_us": 1e6 * sum(r["cpu_s"] for r in rounds) / max(1, len(latencies)),
        "rps_per_round": [round(len(r["latencies"]) / r["seconds"]) for r in rounds],
    }
    for key in ("stored", "syncs", "on_disk", "open_files_left"):
        if all(key in r for r in rounds):
            out[key] = sum(r[key] for r in rounds)
    if out.get("syncs"):
        out["per_sync"] = out["stored"] / out["syncs"]
    return out


def realistic_bodies(work: Path, count: int) -> list[bytes]:
    from msgmetrics.generate import generate

    generate(work / "data", people=3000, days=7, seed=5)
    bodies = []
    for path in sorted((work / "data" / "webhooks").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.startswith(b'{"event_id"'):
                bodies.append(line)
    return bodies[:count]


def run_variant(variant: str, work: Path, bodies: list[bytes], connections: int, seconds: float) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix=f"out-{variant}-", dir=work))
    proc, port, log = start_server(variant, out_dir)
    server_pid = int(re.search(r"pid (\d+)", "".join(log)).group(1))
    try:
        cpu = [0.0]
        result = asyncio.run(drive(f"http://127.0.0.1:{port}/customerio/webhooks", bodies, connections, seconds,
                                   on_window=lambda edge: cpu.append(cpu_seconds(server_pid))))
        result["cpu_s"] = cpu[2] - cpu[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        log.append(rest)
    text = "".join(log)
    syncs = re.search(r"stored in (\d+) sync", text)
    stored = re.search(r"stopped: (\d+) webhook", text)
    if variant != "bare":
        result["on_disk"] = sum(len(p.read_bytes().splitlines()) for p in out_dir.glob("*.jsonl"))
        result["stored"], result["syncs"] = int(stored.group(1)), int(syncs.group(1))
        result["open_files_left"] = len(list(out_dir.glob("*.open")))
    shutil.rmtree(out_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per variant (after 1 s warm-up)")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="split each variant's time into interleaved rounds")
    parser.add_argument("--variants", default="bare,no-fsync,receiver")
    parser.add_argument("--serve", choices=["bare", "no-fsync"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        return serve_bare()
    if args.serve == "no-fsync":
        return serve_no_fsync(0, args.out)

    work = Path(tempfile.mkdtemp(prefix="msgmetrics-bench-receiver-"))
    try:
        bodies = realistic_bodies(work, 20_000)
        sizes = sorted(len(b) for b in bodies)
        print(f"{len(bodies):,} distinct generated bodies, {statistics.median(sizes):.0f} bytes median "
              f"(max {sizes[-1]}); {args.connections} keep-alive connections; {args.seconds:g} s per variant in "
              f"{args.rounds} rounds; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before; "
              "client in this process")
        variants = args.variants.split(",")
        rounds: dict[str, list[dict]] = {v: [] for v in variants}
        for number in range(1, args.rounds + 1):  # interleaved, so a busy moment hits every variant
            for variant in variants:
                rounds[variant].append(run_variant(variant, work, bodies, args.connections,
                                                   args.seconds / args.rounds))
            print(f"  round {number}/{args.rounds}: " + ", ".join(
                f"{v} {len(r[-1]['latencies']) / r[-1]['seconds']:,.0f}/s" for v, r in rounds.items())
                + f" (load average {os.getloadavg()[0]:.1f})", flush=True)
        results = {variant: summarise(rs) for variant, rs in rounds.items()}
        for variant, r in results.items():
            print(f"  {variant}: {json.dumps(r)}")
        base = results.get("bare", {}).get("rps")
        print()
        print("| variant | requests/s | vs bare | p50 ms | p99 ms | max ms | non-200 | server CPU µs/request "
              "| requests per fdatasync |")
        print("|---|---|---|---|---|---|---|---|---|")
        for variant, r in results.items():
            bad = sum(n for code, n in r["codes"].items() if code != 200)
            per_sync = f"{r['per_sync']:.1f}" if r.get("per_sync") and variant == "receiver" else "-"
            ratio = f"{r['rps'] / base:.2f}x" if base else "-"
            print(f"| {variant} | {r['rps']:,.0f} | {ratio} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{r['max_ms']:.1f} | {bad} | {r['server_cpu_us']:.0f} | {per_sync} |")
        for variant, r in results.items():
            if "on_disk" in r:
                print(f"{variant}: {r['on_disk']:,} lines on disk for {r['stored']:,} stored "
                      f"(accepted in the measured windows: {r['codes'].get(200, 0):,}); "
                      f"unfinished files left: {r['open_files_left']}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
