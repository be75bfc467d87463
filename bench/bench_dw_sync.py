"""Data Warehouse Sync: `msgmetrics load dw-sync` against DuckDB's own read_parquet + latest-row
dedup of the same files, and the dbt build on a DW-only warehouse (full, then incremental after
one more export batch), side by side in one run.

    .venv/bin/python bench/bench_dw_sync.py --events 1000000

The export is derived from generated webhook data (msgmetrics.dw_sync_export). Prints wall
seconds, rows/s and ratios. Not a test.
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

from msgmetrics.build import build
from msgmetrics.dw_sync_export import TYPES, write_dw_sync_export
from msgmetrics.generate import generate, people_for_events
from msgmetrics.load import load_dw_sync
from msgmetrics.settings import Warehouse
from msgmetrics.sources.customerio_dw_sync.settings import FILE_TYPES


def _seq(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def duckdb_baseline(folder: Path, target: Path) -> float:
    """Every type's files read by DuckDB, one row per key (highest seq_num), into a DuckDB file."""
    start = time.perf_counter()
    con = duckdb.connect(str(target))
    con.execute("set enable_progress_bar = false")
    for type_name in TYPES:
        key = FILE_TYPES[type_name].key
        con.execute(f"""
            create table {type_name} as
            select * from read_parquet('{folder}/{type_name}_*.parquet', union_by_name = true)
            qualify row_number() over (partition by {key} order by seq_num desc) = 1
        """)
    con.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="msgmetrics-bench-dw-"))
    try:
        people = people_for_events(args.events, args.days)
        manifest = generate(work / "data", people=people, days=args.days, seed=1)
        start = time.perf_counter()
        written = write_dw_sync_export(work / "data", work / "export")
        export_s = time.perf_counter() - start
        rows = sum(w["rows"] for w in written.values())
        files = sorted((work / "export").glob("*.parquet"), key=_seq)
        last_batch = max(_seq(f) for f in files if f.name.startswith("deliveries_"))
        head, tail = work / "head", work / "tail"
        head.mkdir(), tail.mkdir()
        for f in files:
            os.link(f, (head if _seq(f) < last_batch else tail) / f.name)

        base_s = duckdb_baseline(work / "export", work / "baseline.duckdb")

        warehouse = Warehouse(work / "w" / "msgmetrics.duckdb")
        start = time.perf_counter()
        result = load_dw_sync(warehouse, [str(work / "export")])
        load_s = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        start = time.perf_counter()
        load_dw_sync(warehouse, [str(work / "export")])  # nothing new
        reload_s = time.perf_counter() - start

        # builds: a DW-only warehouse without the last batch, then the last batch incrementally
        staged = Warehouse(work / "b" / "msgmetrics.duckdb")
        load_dw_sync(staged, [str(head)])
        start = time.perf_counter()
        build(staged, as_of=manifest["end"], full_refresh=True)
        full_s = time.perf_counter() - start
        tail_rows = load_dw_sync(staged, [str(tail)]).stats.rows_read
        start = time.perf_counter()
        build(staged, as_of=manifest["end"])
        incr_s = time.perf_counter() - start

        per_type = ", ".join(f"{t} {w['rows']:,}" for t, w in written.items())
        print(f"machine: {os.cpu_count()} cores; {manifest['distinct_event_ids']:,} webhook events -> "
              f"{rows:,} DW rows in {len(files)} files ({per_type})")
        print(f"{'step':<52}{'seconds':>9}{'rows/s':>12}{'ratio':>8}")
        print(f"{'write the export (DuckDB, from the webhook files)':<52}{export_s:>9.2f}{rows / export_s:>12,.0f}")
        print(f"{'DuckDB read_parquet + latest per key (baseline)':<52}{base_s:>9.2f}{rows / base_s:>12,.0f}{1:>8.2f}")
        print(f"{'msgmetrics load dw-sync (dlt, Arrow)':<52}{load_s:>9.2f}{rows / load_s:>12,.0f}{load_s / base_s:>8.2f}")
        print(f"{'msgmetrics load dw-sync again (no new files)':<52}{reload_s:>9.2f}")
        print(f"{'dbt build --full-refresh (all but the last batch)':<52}{full_s:>9.2f}{'':>12}{1:>8.2f}")
        print(f"{'dbt build, incremental (+ the last batch)':<52}{incr_s:>9.2f}{'':>12}{incr_s / full_s:>8.2f}")
        print(f"loaded: {result.rows_after}; last batch: {tail_rows}; peak RSS of this process {peak_gb:.2f} GB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
