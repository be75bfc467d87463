"""Benchmark the demo-data generator: ~1M webhook events into a temp dir (not a test).

Usage: .venv/bin/python bench/bench_generate.py [--events 1000000] [--days 90] [--seed 1] [--keep]
Prints wall time, events/s, output size and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from msgmetrics.generate import generate, people_for_events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the output directory and print its path")
    args = ap.parse_args()

    people = people_for_events(args.events, args.days)
    out = Path(tempfile.mkdtemp(prefix="msgmetrics-bench-"))
    try:
        t0 = time.perf_counter()
        manifest = generate(out, people=people, days=args.days, seed=args.seed)
        wall = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        webhook_size = sum(f.stat().st_size for f in (out / "webhooks").glob("*.jsonl"))
        n = manifest["events_written"]
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"people={people} days={args.days} seed={args.seed} target={args.events:,}")
        print(f"events written   {n:,} ({manifest['duplicate_events']:,} retries), orders {manifest['orders']:,}")
        print(f"wall time        {wall:.2f} s")
        print(f"throughput       {n / wall:,.0f} events/s")
        print(f"output size      {size / 1e6:.1f} MB total, {webhook_size / 1e6:.1f} MB webhooks "
              f"({webhook_size / max(n, 1):.0f} B/event)")
        print(f"peak RSS         {rss_mb:.0f} MB")
    finally:
        if args.keep:
            print(f"output kept in   {out}")
        else:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
