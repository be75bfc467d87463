"""App API pull throughput: `msgmetrics load api` (RESTClient paging, client-side rate limiter,
Arrow, dlt merge into DuckDB) against the fake App API, which answers 429 to any request over
10 per second, side by side with the ceiling (10 requests/s x 1000 deliveries per page) and a
naive client (sequential `requests` pages, no limiter, waits Retry-After on 429: what a
straightforward loader does). The fake runs in its own process, as a remote API would.

    .venv/bin/python bench/bench_api_pull.py --deliveries 100000

Prints requests/s, deliveries/s, 429s caused by each client and the ratio to the ceiling.
The goal (issue 3): at least 9 requests/s with no 429 caused by us. Not a test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from msgmetrics.generate import generate, people_for_events
from msgmetrics.load import ApiSettings, load_api
from msgmetrics.settings import Warehouse
from msgmetrics.sources.customerio_api.helpers import parse_time
from msgmetrics.sources.customerio_api.settings import RATE_WINDOW_S

KEY = "bench-key"
EVENTS_PER_DELIVERY = 2.6  # generate.py's calibration


def fake_state(url: str) -> dict:
    return requests.get(f"{url}/_fake/state", timeout=10).json()


def naive_pull(url: str, start: int, end: int) -> tuple[float, int]:
    """Sequential pages as fast as the server answers; on 429 wait Retry-After and repeat."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    params = {"limit": 1000, "start_ts": start, "end_ts": end}
    rows = 0
    began = time.perf_counter()
    while True:
        response = session.get(f"{url}/v1/messages", params=params, timeout=60)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", 1)))
            continue
        response.raise_for_status()
        body = response.json()
        rows += len(body["messages"])
        if not body.get("next"):
            break
        params["start"] = body["next"]
    return time.perf_counter() - began, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="msgmetrics-bench-api-"))
    try:
        people = people_for_events(int(args.deliveries * EVENTS_PER_DELIVERY), args.days)
        t = time.perf_counter()
        manifest = generate(work / "data", people=people, days=args.days, seed=1)
        gen_s = time.perf_counter() - t
        fake = subprocess.Popen([sys.executable, "-m", "msgmetrics.customerio_fake", "--data", str(work / "data"),
                                 "--api-key", KEY, "--max-rps", "10"], stdout=subprocess.PIPE, text=True)
        try:
            t = time.perf_counter()
            ready = fake.stdout.readline()  # printed once the data is derived and the server listens
            derive_s = time.perf_counter() - t
            found = re.search(r"at (http://127\.0\.0\.1:\d+);", ready)
            if not found:
                raise RuntimeError(f"the fake App API did not start: {ready!r}")
            url = found.group(1)
            start, end = parse_time(manifest["start"]), parse_time(manifest["end"])
            n = fake_state(url)["messages"]
            print(f"data: {people:,} people x {args.days} days -> {manifest['events_written']:,} webhook lines "
                  f"(generate {gen_s:.1f} s) -> {n:,} App API deliveries (derive + serve {derive_s:.1f} s)")

            t = time.perf_counter()
            result = load_api(Warehouse(work / "w" / "msgmetrics.duckdb"), ApiSettings(api_key=KEY, api_url=url),
                              resources=["messages"], since=start, until=end)
            ours_s = time.perf_counter() - t
            after_ours = fake_state(url)
            ours_429 = after_ours["rate_limited"]
            http = result.stats.http
            time.sleep(1.1)  # a fresh second for the next client
            naive_s, naive_rows = naive_pull(url, start, end)
            after_naive = fake_state(url)
            naive_requests = after_naive["requests"] - after_ours["requests"]
            naive_429 = after_naive["rate_limited"] - ours_429
        finally:
            fake.terminate()
            fake.wait(timeout=30)

        pages = http.requests
        ceiling = 10 * 1000
        print(f"{'client':<34}{'wall s':>8}{'requests':>10}{'req/s':>8}{'429 by us':>11}{'deliveries/s':>14}{'of ceiling':>12}")
        print(f"{'ceiling (10 req/s x 1000/page)':<34}{'':>8}{'':>10}{10.0:>8.1f}{0:>11}{ceiling:>14,.0f}{'100%':>12}")
        paced = 10 / RATE_WINDOW_S
        print(f"{'  our pacing (1 per 107.5 ms)':<34}{'':>8}{'':>10}{paced:>8.2f}{0:>11}{paced * 1000:>14,.0f}"
              f"{paced / 10:>12.0%}")
        print(f"{'msgmetrics load api (end to end)':<34}{ours_s:>8.1f}{pages:>10}{pages / ours_s:>8.2f}{ours_429:>11}"
              f"{result.rows_added / ours_s:>14,.0f}{result.rows_added / ours_s / ceiling:>12.0%}")
        print(f"{'  of which HTTP paging':<34}{http.elapsed_s:>8.1f}{pages:>10}{http.requests_per_s:>8.2f}{'':>11}"
              f"{result.stats.deliveries_read / http.elapsed_s:>14,.0f}{'':>12}")
        print(f"{'naive requests loop':<34}{naive_s:>8.1f}{naive_requests:>10}{naive_requests / naive_s:>8.2f}"
              f"{naive_429:>11}{naive_rows / naive_s:>14,.0f}{naive_rows / naive_s / ceiling:>12.0%}")
        goal = "met" if http.requests_per_s >= 9 and ours_429 == 0 else "NOT met"
        print(f"goal (>= 9 requests/s while paging, no 429 caused by us): {goal}; {result.rows_added:,} deliveries loaded")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
