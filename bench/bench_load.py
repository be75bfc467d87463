"""Load throughput: `msgmetrics load webhooks` (DuckDB parse -> Arrow -> dlt merge) against
DuckDB's own read_ndjson + dedup of the same files, side by side in one run.

    .venv/bin/python bench/bench_load.py --events 1000000

Prints wall seconds, events/s and the ratio to the DuckDB baseline. Not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from msgmetrics.generate import generate, people_for_events
from msgmetrics.load import load_webhooks
from msgmetrics.settings import Warehouse


def duckdb_baseline(files_glob: str, target: Path) -> tuple[float, int]:
    start = time.perf_counter()
    con = duckdb.connect(str(target))
    con.execute("set enable_progress_bar = false")
    con.execute(f"""
        create table events as
        select * from read_ndjson('{files_glob}', ignore_errors = true,
            columns = {{event_id: 'VARCHAR', object_type: 'VARCHAR', metric: 'VARCHAR', "timestamp": 'BIGINT', data: 'JSON'}})
        where event_id is not null
        qualify row_number() over (partition by event_id) = 1
    """)
    rows = con.execute("select count(*) from events").fetchone()[0]
    con.close()
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="msgmetrics-bench-"))
    try:
        people = people_for_events(args.events, args.days)
        start = time.perf_counter()
        manifest = generate(work / "data", people=people, days=args.days, seed=1)
        gen_s = time.perf_counter() - start
        lines = manifest["events_written"]

        base_s, base_rows = duckdb_baseline(str(work / "data" / "webhooks" / "*.jsonl"), work / "baseline.duckdb")

        start = time.perf_counter()
        result = load_webhooks(Warehouse(work / "w" / "msgmetrics.duckdb"), [str(work / "data" / "webhooks")])
        load_s = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024

        print(f"machine: {os.cpu_count()} cores; {lines:,} webhook lines ({manifest['distinct_event_ids']:,} distinct), {people:,} people, {args.days} days")
        print(f"{'step':<44}{'seconds':>9}{'lines/s':>12}{'ratio':>8}")
        print(f"{'generate (msgmetrics generate)':<44}{gen_s:>9.2f}{lines / gen_s:>12,.0f}{'':>8}")
        print(f"{'DuckDB read_ndjson + dedup (baseline)':<44}{base_s:>9.2f}{lines / base_s:>12,.0f}{1:>8.2f}")
        print(f"{'msgmetrics load webhooks (dlt, Arrow)':<44}{load_s:>9.2f}{lines / load_s:>12,.0f}{load_s / base_s:>8.2f}")
        print(f"rows: baseline {base_rows:,}, msgmetrics {result.rows_after:,}; peak RSS of this process {peak_gb:.2f} GB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
