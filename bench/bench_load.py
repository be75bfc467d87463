"""Load benchmark: `msgmetrics load webhooks` against DuckDB's own read_ndjson + dedup of the
same files, side by side in one run (each step in its own process, peak RSS and CPU per step).

    .venv/bin/python bench/bench_load.py                          # 1m, generated into $TMPDIR
    .venv/bin/python bench/bench_load.py --sizes 1m,10m --workdir /tmp/bench --keep
    .venv/bin/python bench/bench_load.py --data 10m=/tmp/bench/10m/data --repeat 2

For each size the project's generator writes the data set once (30 days, seed 1, as
bench_scale.py does; `--data SIZE=DIR` reuses a folder that holds `webhooks/` and the
generator's `manifest.json`). Then, `--repeat` times, in pairs:

  duckdb baseline   ``create table ... as select ... from read_ndjson(glob, columns=..., ignore_errors=true)
                    qualify row_number() over (partition by event_id) = 1`` into a fresh DuckDB file
  load webhooks     ``msgmetrics --warehouse W load webhooks DIR`` into a fresh warehouse
                    (ratio = this load / the baseline run just before it; target <= 2)

(with `--compare-loaders DIR`, a third step per pair runs the loader of another checkout,
e.g. ``git archive main loaders | tar -x -C /tmp/main``, as ``load (compared)``: a before/after
in the same run), and after the last pair, on that warehouse:

  load unchanged    the same folder again: every file is skipped (dlt state)
  load +1%          one new file with 1 % more events (fresh ids, some late; bench_scale.py's increment)
  load --reread     every file read again: adds nothing (every event is already stored)

Every load step checks the rows in raw_customerio.webhook_events against the baseline's
distinct count. Not a test: figures depend on the machine and on what else runs on it, so
the table shows the 1-minute load average when each step started; compare ratios of the
same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scale as scale  # noqa: E402  (shares the measuring and the table code)

PY, REPO = scale.PY, scale.REPO


def _rows_in(warehouse: Path) -> int | None:
    import duckdb

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except Exception:  # noqa: BLE001
        return None
    try:
        return con.execute("select count(*) from raw_customerio.webhook_events").fetchone()[0]
    finally:
        con.close()


def run_size(label: str, events: int, data: Path | None, root: Path, env: dict, repeat: int, timeout: float,
             load_seen: list[float], echo, compare: Path | None = None) -> list[scale.Row]:
    rows: list[scale.Row] = []
    d = root / label
    d.mkdir(parents=True, exist_ok=True)
    logs = d / "logs"
    logs.mkdir(exist_ok=True)

    def step(name: str, cmd: list[str], n_rows: int | None, log_name: str,
             step_env: dict | None = None) -> tuple[scale.Row, scale.Measured]:
        row = scale.Row(label, name)
        row.load1 = os.getloadavg()[0]
        load_seen.append(row.load1)
        m = scale.measure(cmd, logs / log_name, env=step_env or env, timeout=timeout)
        load_seen.append(os.getloadavg()[0])
        row.wall, row.cpu, row.rss_gb, row.rows = m.wall, m.cpu, m.rss_gb, n_rows
        if not m.ok:
            row.error = m.error()
        rows.append(row)
        echo(scale.text_table([row]).splitlines()[-1])
        return row, m

    if data is None:
        data = d / "data"
        if not (data / "manifest.json").exists():
            row, m = step("generate", [PY, scale.__file__, "_generate", str(data), str(events), str(scale.DAYS),
                                       str(scale.SEED)], None, "generate")
            if row.error:
                return rows
    manifest = json.loads((data / "manifest.json").read_text())
    lines = manifest["events_written"]
    webhooks = data / "webhooks"

    baseline_rows = None
    warehouse = None
    for n in range(1, repeat + 1):
        base_db = d / f"baseline-{n}.duckdb"
        base_db.unlink(missing_ok=True)
        base, m = step("duckdb baseline", [PY, scale.__file__, "_baseline", str(webhooks / "*.jsonl"), str(base_db)],
                       lines, f"baseline-{n}")
        base_db.unlink(missing_ok=True)
        if not base.error:
            baseline_rows = scale._json_tail(m.stdout).get("rows")
            base.note = f"{baseline_rows:,} rows after dedup"
        warehouse = d / f"warehouse-{n}" / "msgmetrics.duckdb"
        shutil.rmtree(warehouse.parent, ignore_errors=True)
        load, m = step("load webhooks", [*scale.MSGMETRICS, "--warehouse", str(warehouse), "load", "webhooks",
                                         str(webhooks)], lines, f"load-{n}")
        if not load.error:
            stored = _rows_in(warehouse)
            load.note = f"{stored:,} rows stored" + (" (= baseline)" if stored == baseline_rows
                                                     else f" (baseline {baseline_rows})")
            if not base.error:
                load.ratio = load.wall / base.wall
                load.note += f"; cpu ratio {load.cpu / base.cpu:.2f}"
        if compare is not None:
            other = d / f"warehouse-compared-{n}" / "msgmetrics.duckdb"
            shutil.rmtree(other.parent, ignore_errors=True)
            old, _ = step("load (compared)", [PY, "-m", "msgmetrics.cli", "--warehouse", str(other), "load", "webhooks",
                                              str(webhooks)], lines, f"load-compared-{n}",
                          step_env={**env, "PYTHONPATH": str(compare)})
            if not old.error:
                old.note = f"{_rows_in(other):,} rows stored; loaders from {compare}"
                if not base.error:
                    old.ratio = old.wall / base.wall
                    old.note += f"; cpu ratio {old.cpu / base.cpu:.2f}"
            shutil.rmtree(other.parent, ignore_errors=True)
        if n < repeat:
            shutil.rmtree(warehouse.parent, ignore_errors=True)
    if warehouse is None or rows[-1].error:
        return rows

    before = _rows_in(warehouse)
    row, m = step("load unchanged", [*scale.MSGMETRICS, "--warehouse", str(warehouse), "load", "webhooks",
                                     str(webhooks)], lines, "load-unchanged")
    if not row.error:
        row.note = f"{_rows_in(warehouse) - before:+,} rows; " + next(
            (ln.split(";")[0] for ln in m.stdout.splitlines() if ln.startswith("webhooks:")), "")

    inc_dir = d / "increment"
    shutil.rmtree(inc_dir, ignore_errors=True)
    inc_dir.mkdir()
    prep = scale.measure([PY, scale.__file__, "_increment", str(webhooks), str(inc_dir / "events-increment.jsonl"),
                          str(lines), str(scale.SEED + 1000)], logs / "increment_prep", env=env, timeout=timeout)
    inc = scale._json_tail(prep.stdout) if prep.ok else {}
    before = _rows_in(warehouse)
    row, m = step("load +1%", [*scale.MSGMETRICS, "--warehouse", str(warehouse), "load", "webhooks",
                               str(inc_dir)], inc.get("rows"), "load-increment")
    if not row.error:
        row.note = f"{inc.get('rows', 0):,} lines, {_rows_in(warehouse) - before:+,} rows"

    before = _rows_in(warehouse)
    row, m = step("load --reread", [*scale.MSGMETRICS, "--warehouse", str(warehouse), "load", "webhooks", "--reread",
                                    str(webhooks)], lines, "load-reread")
    if not row.error:
        row.note = f"{_rows_in(warehouse) - before:+,} rows"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None,
                        help="comma-separated event counts: 100k, 1m, 10m (default 1m, or only the --data sizes)")
    parser.add_argument("--data", action="append", default=[], metavar="SIZE=DIR",
                        help="reuse a generated data set for that size (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="baseline/load pairs per size")
    parser.add_argument("--workdir", default=None, help="parent folder for the temporary data (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and warehouses")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    parser.add_argument("--compare-loaders", default=None, metavar="DIR",
                        help="also run the loader from this loaders/ folder of another checkout, per pair")
    parser.add_argument("--step-timeout", type=float, default=3600)
    args = parser.parse_args()

    given = dict(item.split("=", 1) for item in args.data)
    chosen = args.sizes if args.sizes is not None else ("" if given else "1m")
    sizes = [(s.strip().lower(), scale.parse_size(s)) for s in chosen.split(",") if s.strip()]
    sizes += [(s, scale.parse_size(s)) for s in given if s not in dict(sizes)]
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="msgmetrics-load-", dir=args.workdir))
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    env.pop("MSGMETRICS_WAREHOUSE", None)
    load_seen = [os.getloadavg()[0]]
    print(scale.machine_line([]))
    print(scale.versions_line())
    print(f"work folder {root}; sizes {', '.join(s for s, _ in sizes)}; repeat {args.repeat}\n", flush=True)
    print(scale.text_table([]), flush=True)
    rows: list[scale.Row] = []
    try:
        for label, events in sizes:
            data = Path(given[label]) if label in given else None
            rows += run_size(label, events, data, root, env, args.repeat, args.step_timeout, load_seen,
                             echo=lambda s: print(s, flush=True),
                             compare=Path(args.compare_loaders).resolve() if args.compare_loaders else None)
    finally:
        print("\n" + scale.text_table(rows))
        summary = []
        for label, _ in sizes:
            ratios = [r.ratio for r in rows if r.size == label and r.step == "load webhooks" and r.ratio]
            if ratios:
                summary.append(f"{label}: load / baseline ratio over {len(ratios)} pair(s): median "
                               f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
        for step in ("duckdb baseline", "load webhooks", "load (compared)"):
            costs = []
            for label, _ in sizes:
                done = [r for r in rows if r.size == label and r.step == step and not r.error and r.rows]
                if done:
                    per_m = statistics.median(r.wall / (r.rows / 1e6) for r in done)
                    cpu_m = statistics.median(r.cpu / (r.rows / 1e6) for r in done)
                    costs.append(f"{label} {per_m:.1f} s ({cpu_m:.1f} cpu s)")
            if costs:
                summary.append(f"cost per 1M lines, {step}: " + " | ".join(costs))
        print("\n".join(summary))
        machine, versions = scale.machine_line(load_seen), scale.versions_line()
        print(machine)
        print(versions)
        if args.markdown:
            md = Path(args.markdown)
            md.parent.mkdir(parents=True, exist_ok=True)
            md.write_text(f"# msgmetrics load benchmark\n\n`{' '.join(['.venv/bin/python', 'bench/bench_load.py', *sys.argv[1:]])}`\n\n"
                          f"{machine}\n\n{versions}\n\n{scale.markdown_table(rows)}\n\n"
                          + "\n".join(f"- {line}" for line in summary) + "\n")
            print(f"markdown written to {md}")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
