"""Scale benchmark: load, build and push at 100k / 1M / 10M webhook events, one command, one table.

    .venv/bin/python bench/bench_scale.py                                  # 100k, 1m, 10m
    .venv/bin/python bench/bench_scale.py --sizes 100k,1m --markdown bench/results/scale-latest.md
    .venv/bin/python bench/bench_scale.py --sizes 10m --workdir /big/disk --keep

For each size the project's generator writes that many webhook lines (``people_for_events(size,
days)``, 30 days, fixed seed) into a temporary folder; then every step runs in its OWN subprocess,
so the peak RSS in the table is that step's alone (``os.wait4`` rusage of the child: max RSS and
user+sys CPU):

  generate          ``msgmetrics.generate.generate`` (context only, not a target)
  duckdb baseline   DuckDB alone: ``create table ... as select ... from read_ndjson(glob, columns=...,
                    ignore_errors=true) qualify row_number() over (partition by event_id) = 1`` into a
                    fresh DuckDB file: the floor for "parse JSONL + dedup + store"
  load webhooks     ``msgmetrics --warehouse W load webhooks DIR``   (ratio = load / baseline; target <= 2)
                    These two steps run --repeat times (default 2), each on a fresh database, and keep
                    the fastest run (its times are in the note): on a shared 2-core VM the same DuckDB
                    baseline took 36-62 s at 10M from one run to the next, so one sample of each made
                    the ratio a coin toss.
  load orders       ``msgmetrics --warehouse W load orders DIR``
  build full        ``msgmetrics build --as-of <manifest end> --full-refresh``
  load +1%          a NEW file holding 1 % more events (see below), ``load webhooks`` of that file
  build incr        ``msgmetrics build --as-of <same>`` (incremental; ratio = incr / full; target <= 0.15):
                    only the nodes downstream of the webhook events run (see loaders/msgmetrics/build_plan.py)
                    The two builds also run --repeat times and keep the fastest run: the full build
                    simply runs again (a full refresh rebuilds everything; the marker of passed unit
                    tests is removed first, so each full run also runs dbt's unit tests, as a first
                    build of new code does), and each incremental run starts from a copy of the
                    warehouse taken after the +1 % load (copying is not timed), all but the file of
                    node timings that dbt's schedule reads (loaders/msgmetrics/dbt_schedule.py): the
                    first run is scheduled by the full build's timings, as the first incremental
                    build after a full one is; the second by the first's, as every later one is.
                    The incremental build skips the unit tests: they passed on the same code. The
                    same 10M incremental build took 28-35 s within minutes on one VM.
  build no change   the same command again: nothing changed, so no dbt run (the build's floor)
  push dry-run      ``msgmetrics push --dry-run --dry-run-dir X``
  push fake         ``msgmetrics push`` to ``python -m msgmetrics.amplitude.fake_server`` on 127.0.0.1
                    (a subprocess; AMPLITUDE_API_KEY / _INGEST_URL, and the Behavioral Cohorts
                    variables, point at it). The fake's own CPU competes with the push on a small box.

The 1 % increment: lines copied from the data set with fresh event_ids (the first 10 ULID characters,
the time part, kept; the random part re-drawn from a hash of the old id, so a retried event stays one
retried event). 90 % come from the last day's file (new activity), 8 % from the files 1-3 days older
(late) and 2 % from older files (days-to-weeks late), so the incremental models have late events for
days they already built. Copies keep people and deliveries, so identities stay consistent (a second
generated data set with another seed would reuse ``cust-NNNNNN`` ids for different people and fail the
identity-conflict test).

rows/s uses: the data set's webhook lines (generate, baseline, loads, full build), the increment's
lines (load +1 %, build incr) and the records sent (events + identify records) for the pushes.
"cost per 1M events" divides each step's wall time by the data set size in millions, so a flat line
from 1M to 10M means linear scaling (incremental steps included: their cost should grow with the
warehouse only as far as they scan it).

dbt's target/ and logs/ go to the work folder (DBT_TARGET_PATH / DBT_LOG_PATH), not the repository,
so a concurrent test run is not disturbed. A step that fails or times out shows its error in the
table and the next steps still run. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(PY).parent
MSGMETRICS = [str(BIN / "msgmetrics")] if (BIN / "msgmetrics").exists() else [PY, "-m", "msgmetrics.cli"]
DAYS = 30
SEED = 1
INC_SHARE = 0.01
INC_MIX = ((0.90, "last day"), (0.08, "1-3 days late"), (0.02, "4+ days late"))
FAKE_API_KEY, FAKE_SECRET, FAKE_APP_ID = "bench-scale-key", "bench-scale-secret", 424242
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# ------------------------------------------------------------------ helpers run in a subprocess
def _child_generate(out: str, events: int, days: int, seed: int) -> None:
    from msgmetrics.generate import generate, people_for_events

    people = people_for_events(events, days)
    manifest = generate(Path(out), people=people, days=days, seed=seed)
    json.dump({"people": people, **{k: manifest[k] for k in ("events_written", "distinct_event_ids", "orders",
                                                              "start", "end")}}, sys.stdout)


def _child_baseline(glob: str, db: str) -> None:
    import duckdb

    con = duckdb.connect(db)
    con.execute("set enable_progress_bar = false")
    con.execute(f"""
        create table events as
        select * from read_ndjson('{glob}', ignore_errors = true,
            columns = {{event_id: 'VARCHAR', object_type: 'VARCHAR', metric: 'VARCHAR', "timestamp": 'BIGINT',
                        data: 'JSON'}})
        where event_id is not null
        qualify row_number() over (partition by event_id) = 1
    """)
    rows = con.execute("select count(*) from events").fetchone()[0]
    con.close()
    json.dump({"rows": rows}, sys.stdout)


def _new_event_id(old: str) -> str:
    digest = hashlib.blake2b(("bench-scale-inc:" + old).encode(), digest_size=16).digest()
    return old[:10] + "".join(CROCKFORD[b % 32] for b in digest)


def _child_increment(webhooks_dir: str, out_file: str, total_lines: int, seed: int) -> None:
    """Write ~INC_SHARE * total_lines copied lines with new event_ids into out_file (see module doc)."""
    import orjson

    rng = random.Random(seed)
    files = sorted(Path(webhooks_dir).glob("events-*.jsonl"))
    groups = [files[-1:], files[-4:-1], files[:-4]]
    target = max(1, round(INC_SHARE * total_lines))
    written, counts = 0, []
    with open(out_file, "wb") as out:
        for (share, label), group in zip(INC_MIX, groups):
            want = round(share * target)
            if not group or not want:
                counts.append((label, 0))
                continue
            # at most 6 source files per group, so the 10M case does not read 4 GB in Python
            picked = group if len(group) <= 6 else [group[round(i * (len(group) - 1) / 5)] for i in range(6)]
            per_file = [want // len(picked) + (1 if i < want % len(picked) else 0) for i in range(len(picked))]
            n = 0
            for path, k in zip(picked, per_file):
                lines = [line for line in path.read_bytes().splitlines() if line.strip()]
                for line in rng.sample(lines, min(k, len(lines))):
                    try:
                        body = orjson.loads(line)
                        body["event_id"] = _new_event_id(str(body["event_id"]))
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        continue  # a malformed line in the source: skip it
                    out.write(orjson.dumps(body) + b"\n")
                    n += 1
                del lines
            counts.append((label, n))
            written += n
    json.dump({"rows": written, "mix": dict(counts)}, sys.stdout)


# ------------------------------------------------------------------ measuring one subprocess
@dataclass
class Measured:
    rc: int | None
    wall: float
    cpu: float
    rss_gb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    log_prefix: Path | None = None  # where its .out / .err (and a build's run_results) are kept

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def error(self) -> str:
        if self.timed_out:
            return f"timed out after {self.wall:.0f} s"
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        important = [ln for ln in lines if ln.lower().startswith(("error", "traceback")) or "Error" in ln]
        tail = (important or lines or [f"exit {self.rc}"])[-1]
        return f"exit {self.rc}: {tail[:160]}"


def measure(cmd: list[str], log_prefix: Path, env: dict | None = None, timeout: float | None = None) -> Measured:
    """Run cmd as its own process group; wall time, CPU and max RSS from the child's rusage (wait4)."""
    out_path, err_path = Path(f"{log_prefix}.out"), Path(f"{log_prefix}.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env=env, start_new_session=True)
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # our own child's group only
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        rc=proc.returncode, wall=wall, cpu=usage.ru_utime + usage.ru_stime,
        rss_gb=usage.ru_maxrss / 1024 / 1024,  # KiB on Linux
        stdout=out_path.read_text(errors="replace"), stderr=err_path.read_text(errors="replace"),
        timed_out=timed_out.is_set(), log_prefix=Path(log_prefix),
    )


def _json_tail(text: str) -> dict:
    """The JSON object a command printed last on stdout ({} if none)."""
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return {}


# ------------------------------------------------------------------ the table
@dataclass
class Row:
    size: str
    step: str
    wall: float | None = None
    rows: int | None = None
    rss_gb: float | None = None
    ratio: float | None = None
    cpu: float | None = None
    load1: float | None = None
    error: str | None = None
    note: str = ""


@dataclass
class SizeRun:
    label: str
    events: int
    lines: int | None = None
    rows: list[Row] = field(default_factory=list)


HEADERS = ("size", "step", "wall s", "rows/s", "peak RSS GB", "ratio", "cpu s", "load1", "note / error")


def _cells(row: Row) -> list[str]:
    if row.error:
        return [row.size, row.step, f"{row.wall:.1f}" if row.wall is not None else "-", "-",
                f"{row.rss_gb:.2f}" if row.rss_gb is not None else "-", "-",
                f"{row.cpu:.1f}" if row.cpu is not None else "-",
                f"{row.load1:.2f}" if row.load1 is not None else "-", "FAILED: " + row.error]
    rate = f"{row.rows / row.wall:,.0f}" if row.rows and row.wall else "-"
    return [row.size, row.step, f"{row.wall:.1f}", rate, f"{row.rss_gb:.2f}",
            f"{row.ratio:.3f}" if row.ratio is not None else "", f"{row.cpu:.1f}", f"{row.load1:.2f}", row.note]


RIGHT = {2, 3, 4, 5, 6, 7}
MIN_WIDTHS = (5, 15, 8, 10, 11, 6, 8, 6)  # fixed, so rows printed one by one line up with the header


def text_table(rows: list[Row]) -> str:
    cells = [list(HEADERS)] + [_cells(r) for r in rows]
    widths = [max([MIN_WIDTHS[i]] + [len(c[i]) for c in cells]) for i in range(len(HEADERS) - 1)]
    out = []
    for n, c in enumerate(cells):
        parts = [c[i].rjust(widths[i]) if i in RIGHT else c[i].ljust(widths[i]) for i in range(len(widths))]
        out.append("  ".join(parts) + "  " + c[-1])
        if n == 0:
            out.append("-" * (sum(widths) + 2 * len(widths) + 12))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---:" if i in RIGHT else "---"
                                                           for i in range(len(HEADERS))) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(out)


def cost_lines(runs: list[SizeRun]) -> list[str]:
    """Per step: wall seconds per million events of the data set, across sizes."""
    steps: list[str] = []
    for run in runs:
        for row in run.rows:
            if row.step not in steps:
                steps.append(row.step)
    lines = []
    for step in steps:
        parts = []
        for run in runs:
            row = next((r for r in run.rows if r.step == step), None)
            if row is None or run.lines is None:
                continue
            if row.error or row.wall is None:
                parts.append(f"{run.label} failed")
            else:
                parts.append(f"{run.label} {row.wall / (run.lines / 1e6):.1f} s")
        trend = ""
        ok = [(run, next(r for r in run.rows if r.step == step)) for run in runs
              if run.lines and any(r.step == step and not r.error and r.wall for r in run.rows)]
        big = [(run, r) for run, r in ok if run.lines >= 900_000]
        if len(big) >= 2:
            (r1, a), (r2, b) = big[0], big[-1]
            growth = (b.wall / r2.lines) / (a.wall / r1.lines)
            trend = f"  ({r2.label} vs {r1.label}: x{growth:.2f} per event)"
        lines.append(f"{step:<15} " + " | ".join(parts) + trend)
    return lines


def summarize_run_results(results: dict) -> str:
    """dbt's own elapsed time, node time by kind (summed over dbt's threads) and the slowest nodes."""
    by_kind: dict[str, float] = {}
    nodes = []
    for r in results.get("results", []):
        kind = r["unique_id"].split(".")[0]
        kind = "tests" if kind in ("test", "unit_test") else kind + "s"
        by_kind[kind] = by_kind.get(kind, 0.0) + r["execution_time"]
        nodes.append((r["execution_time"], r["unique_id"].split(".")[2]))
    slowest = ", ".join(f"{name[:40]} {t:.1f}" for t, name in sorted(nodes, reverse=True)[:3])
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_kind.items()) if v >= 0.05)
    return f"dbt run {results.get('elapsed_time', 0):.1f} s (node s: {kinds}); slowest: {slowest}"


# ------------------------------------------------------------------ machine and versions
def machine_line(load_seen: list[float]) -> str:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    la = os.getloadavg()
    seen = f"; load1 seen during the run min {min(load_seen):.2f} / max {max(load_seen):.2f}" if load_seen else ""
    return (f"machine: {os.cpu_count()} cores ({cpu_model or platform.processor() or platform.machine()}), "
            f"{mem_kb / 1024 / 1024:.1f} GB RAM, {platform.system()} {platform.release()}; "
            f"load average now {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}{seen}")


def versions_line() -> str:
    parts = [f"python {platform.python_version()}"]
    for dist in ("msgmetrics", "duckdb", "dlt", "dbt-core", "dbt-duckdb", "pyarrow"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return "versions: " + ", ".join(parts)


# ------------------------------------------------------------------ one size
def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    if text and text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def _fake_amplitude(log_prefix: Path, env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [PY, "-u", "-m", "msgmetrics.amplitude.fake_server", "--port", "0", "--api-key", FAKE_API_KEY,
         "--secret-key", FAKE_SECRET, "--app-id", str(FAKE_APP_ID)],
        stdout=subprocess.PIPE, stderr=open(f"{log_prefix}.err", "wb"), cwd=REPO, env=env, text=True,
    )
    line = proc.stdout.readline()  # "fake Amplitude listening on http://127.0.0.1:PORT (api key ...); ..."
    url = next((w for w in line.split() if w.startswith("http://")), None)
    if not url:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"fake Amplitude did not start: {line!r}")
    return proc, url.rstrip(",;")


def _peak_rss_gb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        return None
    return None


def run_size(label: str, events: int, root: Path, env: dict, timeout: float, load_seen: list[float],
             echo, push_timeout: float | None = None, push: bool = True, repeat: int = 1) -> SizeRun:
    from msgmetrics.build import unit_tests_marker
    from msgmetrics.dbt_schedule import seconds_path
    from msgmetrics.settings import Warehouse

    run = SizeRun(label, events)
    d = root / label
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    data, logs = d / "data", d / "logs"
    logs.mkdir()
    wh = d / "warehouse" / "msgmetrics.duckdb"
    cli = [*MSGMETRICS, "--warehouse", str(wh)]
    done: dict[str, bool] = {}
    manifest: dict = {}

    def step(name: str, cmd: list[str], rows=None, needs=(), ratio_to=None, step_env=None, after=None,
             limit: float | None = None, repeat: int = 1, reset=None, after_each=None) -> Row:
        """Run cmd (`repeat` times, calling `reset` (if given) before each run but the first and
        `after_each(m)` after each: the row keeps the fastest successful run, and the highest peak
        RSS of all)."""
        row = Row(label, name)
        missing = [n for n in needs if not done.get(n)]
        if missing:
            row.error = f"skipped: {', '.join(missing)} failed"
            done[name] = False
            run.rows.append(row)
            echo(text_table([row]).splitlines()[-1])
            return row
        row.load1 = os.getloadavg()[0]
        load_seen.append(row.load1)
        tries: list[Measured] = []
        for attempt in range(repeat):
            if attempt:
                if reset:
                    reset()
                load_seen.append(os.getloadavg()[0])
            suffix = f"_{attempt + 1}" if repeat > 1 else ""
            tries.append(measure(cmd, logs / (name.replace(" ", "_").replace("%", "pct").replace("+", "") + suffix),
                                 env=step_env or env, timeout=limit or timeout))
            if after_each:
                after_each(tries[-1])
            if not tries[-1].ok:
                break
        m = min((t for t in tries if t.ok), key=lambda t: t.wall, default=tries[-1])
        row.wall, row.cpu, row.rss_gb = m.wall, m.cpu, max(t.rss_gb for t in tries)
        load_seen.append(os.getloadavg()[0])
        if not m.ok:
            row.error = m.error()
        else:
            try:
                row.rows = rows(m) if callable(rows) else rows
                if after:
                    after(m, row)
            except Exception as exc:  # noqa: BLE001 - a parsing problem must not stop the bench
                row.note = (row.note + f" (post-check failed: {exc})").strip()
            if ratio_to:
                ref = next((r for r in run.rows if r.step == ratio_to and not r.error), None)
                row.ratio = row.wall / ref.wall if ref else None
        if len(tries) > 1 and row.error is None:
            row.note = (f"best of {len(tries)} ({' / '.join(f'{t.wall:.1f}' for t in tries)} s); " + row.note).rstrip("; ")
        done[name] = row.error is None
        run.rows.append(row)
        echo(text_table([row]).splitlines()[-1])
        return row

    # 1. generate
    def _after_generate(m: Measured, row: Row) -> None:
        manifest.update(_json_tail(m.stdout))
        run.lines = manifest["events_written"]
        size_mb = sum(p.stat().st_size for p in (data / "webhooks").glob("*.jsonl")) / 1e6
        row.note = (f"{manifest['events_written']:,} lines ({manifest['distinct_event_ids']:,} distinct), "
                    f"{manifest['people']:,} people, {manifest['orders']:,} orders, {size_mb:,.0f} MB JSONL")

    step("generate", [PY, __file__, "_generate", str(data), str(events), str(DAYS), str(SEED)],
         rows=lambda m: _json_tail(m.stdout)["events_written"], after=_after_generate)
    lines = run.lines or events
    webhooks = data / "webhooks"

    # 2. DuckDB baseline
    baseline_rows: dict = {}

    def _drop_baseline() -> None:
        (d / "baseline.duckdb").unlink(missing_ok=True)
        (d / "baseline.duckdb.wal").unlink(missing_ok=True)

    step("duckdb baseline", [PY, __file__, "_baseline", str(webhooks / "*.jsonl"), str(d / "baseline.duckdb")],
         rows=lines, needs=("generate",), repeat=repeat, reset=_drop_baseline,
         after=lambda m, row: (baseline_rows.update(_json_tail(m.stdout)),
                               setattr(row, "note", f"{baseline_rows['rows']:,} rows after dedup")))
    _drop_baseline()

    # 3. msgmetrics load
    def _after_load(m: Measured, row: Row, compare: bool = True) -> None:
        summary = next((ln for ln in m.stdout.splitlines() if ln.startswith("webhooks:")), "")
        new = summary.split(" events read, ")[1].split(" new")[0] if " events read, " in summary else "?"
        row.note = f"{new} new rows"
        if compare and baseline_rows.get("rows") is not None and new.replace(",", "").isdigit():
            same = int(new.replace(",", "")) == baseline_rows["rows"]
            row.note += " (= baseline)" if same else f" (baseline {baseline_rows['rows']:,})"

    def _fresh_warehouse() -> None:  # the warehouse folder also holds dlt's pipeline state
        shutil.rmtree(wh.parent, ignore_errors=True)

    step("load webhooks", [*cli, "load", "webhooks", str(webhooks)], rows=lines, needs=("generate",),
         ratio_to="duckdb baseline", after=_after_load, repeat=repeat, reset=_fresh_warehouse)
    step("load orders", [*cli, "load", "orders", str(data / "orders")], rows=manifest.get("orders"),
         needs=("generate",),
         after=lambda m, row: setattr(row, "note", next((ln.split(";")[0] for ln in m.stdout.splitlines()
                                                         if ln.startswith("orders:")), "")))

    as_of = manifest.get("end", "")

    def _keep_run_results(m: Measured) -> None:  # where dbt's time went, per run of a build
        results = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
        if results.exists():
            shutil.copy(results, f"{m.log_prefix}_run_results.json")
            results.unlink()

    def _after_build(m: Measured, row: Row) -> None:  # m: the fastest run; summarise its run_results
        row.note = next((ln for ln in m.stdout.splitlines() if ln.startswith("build:")), "")
        results = Path(f"{m.log_prefix}_run_results.json")
        if results.exists():
            row.note += "; " + summarize_run_results(json.loads(results.read_text()))

    # 4. full build
    # A full refresh rebuilds everything whatever the warehouse holds, so it simply runs again;
    # without the marker of passed unit tests, so that the second run runs them too, as the first.
    step("build full", [*cli, "build", "--as-of", as_of, "--full-refresh"], rows=lines,
         needs=("load webhooks", "load orders"), after=_after_build, after_each=_keep_run_results,
         repeat=repeat, reset=lambda: unit_tests_marker(Warehouse(wh)).unlink(missing_ok=True))

    # 5. 1% more events (new file, some late), load them, incremental build
    inc_dir = d / "increment"
    inc_dir.mkdir()
    inc_info: dict = {}
    prep = measure([PY, __file__, "_increment", str(webhooks), str(inc_dir / "events-increment.jsonl"),
                    str(lines), str(SEED + 1000)], logs / "increment_prep", env=env, timeout=timeout) \
        if done.get("generate") else None
    if prep is not None and prep.ok:
        inc_info = _json_tail(prep.stdout)
    inc_rows = inc_info.get("rows")
    mix = ", ".join(f"{v:,} {k}" for k, v in inc_info.get("mix", {}).items())
    step("load +1%", [*cli, "load", "webhooks", str(inc_dir)], rows=inc_rows,
         needs=("build full",) if inc_rows else ("build full", "increment file"),
         after=lambda m, row: (_after_load(m, row, compare=False), setattr(row, "note", f"{inc_rows:,} lines ({mix}); {row.note}")))
    # Each run of the incremental build starts from the warehouse as the +1 % load left it (a copy
    # taken before the first run, put back before the next; not timed).
    before_incr = d / "warehouse_before_incr"
    if repeat > 1 and done.get("load +1%"):
        shutil.copytree(wh.parent, before_incr)

    def _restore_warehouse() -> None:  # the data as before; the schedule's node timings as now
        timings = seconds_path(Warehouse(wh))
        kept = timings.read_bytes() if timings.exists() else None
        shutil.rmtree(wh.parent)
        shutil.copytree(before_incr, wh.parent)
        if kept is not None:
            timings.write_bytes(kept)

    step("build incr", [*cli, "build", "--as-of", as_of], rows=inc_rows, needs=("load +1%",),
         ratio_to="build full", after=_after_build, after_each=_keep_run_results,
         repeat=repeat if before_incr.exists() else 1, reset=_restore_warehouse)
    shutil.rmtree(before_incr, ignore_errors=True)
    # nothing new since: the build's floor (start, parse, one look at the sources; no dbt run)
    step("build no change", [*cli, "build", "--as-of", as_of], needs=("build incr",), ratio_to="build full",
         after=lambda m, row: setattr(row, "note", next((ln for ln in m.stdout.splitlines()
                                                         if ln.startswith("build:")), "")))

    if not push:  # --skip-push
        return run

    # 6. push: dry run, then to a local fake Amplitude
    def _push_rows(m: Measured) -> int:
        result = _json_tail(m.stdout)
        return result.get("events_planned", 0) + result.get("identifications_planned", 0)

    def _after_push(m: Measured, row: Row) -> None:
        r = _json_tail(m.stdout)
        cohorts = sum(r.get("cohort_adds_planned", {}).values())
        row.note = (f"{r.get('events_planned', 0):,} events, {r.get('identifications_planned', 0):,} identify, "
                    f"{cohorts:,} cohort adds")
        if not r.get("dry_run"):
            row.note += (f"; accepted {r.get('events_accepted', 0):,} events, "
                         f"{r.get('identifications_accepted', 0):,} identify, retries {r.get('retries', 0)}")

    step("push dry-run", [*cli, "push", "--dry-run", "--dry-run-dir", str(d / "dry_run"), "--output", "json"],
         rows=_push_rows, needs=("build incr",), after=_after_push, limit=push_timeout)

    fake = None
    push_env = dict(env)
    if done.get("build incr"):
        try:
            fake, url = _fake_amplitude(logs / "fake_amplitude", env)
            push_env.update(AMPLITUDE_API_KEY=FAKE_API_KEY, AMPLITUDE_INGEST_URL=url, AMPLITUDE_API_URL=url,
                            AMPLITUDE_SECRET_KEY=FAKE_SECRET, AMPLITUDE_APP_ID=str(FAKE_APP_ID),
                            AMPLITUDE_COHORT_OWNER="bench@example.com")
        except Exception as exc:  # noqa: BLE001
            run.rows.append(Row(label, "push fake", error=f"fake Amplitude: {exc}"))
            done["push fake"] = False
    try:
        if fake is not None:
            def _after_fake(m: Measured, row: Row) -> None:
                _after_push(m, row)
                with urllib.request.urlopen(url + "/_fake/state", timeout=30) as resp:
                    state = json.loads(resp.read())
                fake_rss = _peak_rss_gb(fake.pid)
                stored = state.get("event_count", state.get("events"))
                row.note += f"; fake stored {stored:,} events" if isinstance(stored, int) else ""
                row.note += f", fake peak RSS {fake_rss:.2f} GB" if fake_rss is not None else ""

            row = step("push fake", [*cli, "push", "--output", "json"], rows=_push_rows, needs=("build incr",),
                       step_env=push_env, after=_after_fake, limit=push_timeout)
            if row.error:  # how far it got, from the fake's side
                try:
                    with urllib.request.urlopen(url + "/_fake/state", timeout=60) as resp:
                        state = json.loads(resp.read())
                    row.error += (f"; by then the fake had stored {state['event_count']:,} events and "
                                  f"{state['identifications']:,} identify records")
                except Exception:  # noqa: BLE001
                    pass
                echo("       " + row.error)
    finally:
        if fake is not None:
            fake.terminate()
            try:
                fake.wait(10)
            except subprocess.TimeoutExpired:
                fake.kill()
                fake.wait()
    return run


# ------------------------------------------------------------------ main
def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):  # helper mode, run by the bench itself
        helper, args = sys.argv[1], sys.argv[2:]
        if helper == "_generate":
            _child_generate(args[0], int(args[1]), int(args[2]), int(args[3]))
        elif helper == "_baseline":
            _child_baseline(args[0], args[1])
        elif helper == "_increment":
            _child_increment(args[0], args[1], int(args[2]), int(args[3]))
        else:
            raise SystemExit(f"unknown helper {helper}")
        return

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,1m,10m", help="comma-separated event counts: 100k, 1m, 2.5m, 10m")
    parser.add_argument("--workdir", default=None, help="parent folder for the temporary data (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and warehouses")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    parser.add_argument("--step-timeout", type=float, default=3600, help="seconds before a step is killed")
    parser.add_argument("--push-timeout", type=float, default=None,
                        help="seconds before a push step is killed (default: --step-timeout)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of the duckdb baseline, load webhooks, build full and build incr, each "
                             "from the same starting state; the table keeps the fastest of each (both ratios "
                             "then compare like with like on a noisy machine) and the highest peak RSS")
    parser.add_argument("--skip-push", action="store_true",
                        help="stop after the incremental build (no push dry-run, no push to the fake)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    sizes = [(s.strip().lower(), parse_size(s)) for s in args.sizes.split(",") if s.strip()]
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="msgmetrics-scale-", dir=args.workdir))
    env = {**os.environ,
           "DBT_TARGET_PATH": str(root / "dbt_target"), "DBT_LOG_PATH": str(root / "dbt_logs"),
           "RUNTIME__DLTHUB_TELEMETRY": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    for name in ("AMPLITUDE_API_KEY", "AMPLITUDE_INGEST_URL", "AMPLITUDE_API_URL", "AMPLITUDE_SECRET_KEY",
                 "AMPLITUDE_APP_ID", "AMPLITUDE_COHORT_OWNER", "MSGMETRICS_WAREHOUSE"):
        env.pop(name, None)  # only the push-to-fake step gets Amplitude settings

    started = dt.datetime.now(dt.timezone.utc)
    load_seen: list[float] = [os.getloadavg()[0]]
    free_gb = shutil.disk_usage(root).free / 1e9
    print(machine_line([]))
    print(versions_line())
    print(f"work folder {root} ({free_gb:,.0f} GB free); sizes {', '.join(s for s, _ in sizes)}; {DAYS} days, "
          f"seed {SEED}; step timeout {args.step_timeout:.0f} s"
          + (f", push timeout {args.push_timeout:.0f} s" if args.push_timeout else "") + "\n", flush=True)
    print(text_table([]), flush=True)

    runs: list[SizeRun] = []
    try:
        for label, events in sizes:
            runs.append(run_size(label, events, root, env, args.step_timeout, load_seen,
                                 echo=lambda s: print(s, flush=True), push_timeout=args.push_timeout,
                                 push=not args.skip_push, repeat=args.repeat))
            if not args.keep:
                shutil.rmtree(root / label, ignore_errors=True)
    finally:
        rows = [r for run in runs for r in run.rows]
        machine, versions = machine_line(load_seen), versions_line()
        costs = cost_lines(runs)
        print("\n" + text_table(rows))
        print("\ncost per 1M events (wall s / data set size in M events):")
        print("\n".join("  " + c for c in costs))
        print("\n" + machine)
        print(versions)
        notes = ("ratio: load webhooks / duckdb baseline (target <= 2); build incr / build full (target <= 0.15). "
                 "rows/s: data set lines (increment lines for load +1% and build incr; records sent for push). "
                 "cpu s: user+sys of the step's process; load1: 1-min load average when the step started.")
        print(notes)
        if args.markdown:
            md = Path(args.markdown)
            md.parent.mkdir(parents=True, exist_ok=True)
            md.write_text(
                f"# msgmetrics scale benchmark\n\n"
                f"`{' '.join(['.venv/bin/python', 'bench/bench_scale.py', *sys.argv[1:]])}` — "
                f"{started:%Y-%m-%d %H:%M} UTC\n\n"
                f"{machine}\n\n{versions}\n\n"
                f"{markdown_table(rows)}\n\n"
                f"Cost per 1M events (wall s / data set size in M events):\n\n"
                + "\n".join(f"- `{c}`" for c in costs) + "\n\n" + notes + "\n")
            print(f"markdown written to {md}")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
