"""What the cohort layer (registry cohorts, purchases, intents, audiences, history) costs in a build.

    .venv/bin/python bench/bench_cohorts.py                      # 1M events
    .venv/bin/python bench/bench_cohorts.py --events 100000 --workdir /tmp/bench-cohorts

Generates a data set (``people_for_events(events, 30)``, seed 7), loads it, then runs
``msgmetrics build --full-refresh`` as of the data's end and a second ``msgmetrics build`` as of one
hour later with nothing new loaded: what an hourly schedule does between loads, where only the
models that read ``as_of`` run and the cohort states recompute the people whose window edges
``as_of`` crossed. For each build it prints the wall time, the time dbt spent in every model of
the cohort layer (from that build's ``run_results.json``), their sum and their share of all model
time. dbt's target/ and logs/ go to the work folder. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loaders"))

from msgmetrics.generate import generate, people_for_events  # noqa: E402

COHORT_LAYER = (
    "int_cohorts__person_states", "int_cohorts__signals", "int_cohorts__members", "int_cohorts__data_freshness",
    "int_purchases__orders_resolved",
    "int_purchases__conversions_matched", "fct_purchases", "dim_message_intents", "rpt_messages_without_intent",
    "dim_cohorts", "cohort_membership", "cohort_membership_history", "cohort_sizes_daily", "dim_audiences",
    "audience_assignments", "fct_amplitude_user_properties",
)


def run(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def model_times(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results if r["unique_id"].startswith("model.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-cohorts-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {**os.environ, "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs")}
    cli = [sys.executable, "-m", "msgmetrics.cli", "--warehouse", str(work / "w.duckdb")]

    started = time.perf_counter()
    manifest = generate(work / "data", people=people_for_events(args.events, 30), days=30, seed=7)
    print(f"generate: {manifest['events_written']:,} webhook lines, {manifest['orders']:,} orders "
          f"in {time.perf_counter() - started:.1f} s")
    print(f"load webhooks: {run(cli + ['load', 'webhooks', str(work / 'data' / 'webhooks')], env):.1f} s")
    print(f"load orders: {run(cli + ['load', 'orders', str(work / 'data' / 'orders')], env):.1f} s")
    later = (datetime.fromisoformat(manifest["end"].replace("Z", "+00:00")) + timedelta(hours=1)).isoformat()
    builds = (("full build (--full-refresh)", manifest["end"], ["--full-refresh"]),
              ("as_of one hour later, nothing new loaded", later, []))
    for label, as_of, extra in builds:
        (work / "target" / "run_results.json").unlink(missing_ok=True)  # this build's results, or none
        wall = run(cli + ["build", "--as-of", as_of, *extra], env)
        if not (work / "target" / "run_results.json").exists():
            print(f"\n{label}: {wall:.1f} s wall, no dbt run")
            continue
        times = model_times(work / "target")
        layer = {name: times[name] for name in COHORT_LAYER if name in times}
        total = sum(times.values())
        print(f"\n{label}: {wall:.1f} s wall, {total:.1f} s in {len(times)} models")
        for name, seconds in sorted(layer.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<36} {seconds:6.2f} s")
        print(f"  {'cohort layer':<36} {sum(layer.values()):6.2f} s = {sum(layer.values()) / total:.0%} of model time")
    print(f"\nwork folder: {work}")


if __name__ == "__main__":
    main()
