"""Which ready dbt node runs next: the one with the most work still below it.

dbt hands out the ready nodes in order of their depth in the graph (GraphQueue's scores: the
topological level, lower first), and hands each out as soon as it is ready: its main thread
queues it for the thread pool, first come first served, while the threads are still busy. On two
threads that ran a report and a leaf fact table before the long chain that everything else waits
for (purchases -> cohorts -> activation at 10M events: the chain waited seconds).

Within `critical_path_first`, a ready node's score is minus the seconds of the longest path of
work from it to the end of the graph (the critical path, a list schedule's usual priority), each
node weighted by its seconds in the builds before (a default per kind when never timed), and
dbt takes a node off its queue only when fewer than `threads` are running, so the choice is made
when a thread is free and among everything ready by then. Dependencies and results are dbt's;
only the order of ready nodes changes.

The seconds are kept beside the warehouse (`<warehouse>.node-seconds.json`), like the build state,
apart for full builds and incremental ones: a node's seconds differ by an order of magnitude
between the two (`fct_message_deliveries`: 43 s in a full build of 10M events, 2-3 s after +1 %),
and scheduling an incremental build by full-build seconds ran the delivery facts before the
cohort chain (26 s instead of 23 s on the 10M rig, docs/decisions.md). A build uses its own
kind's seconds, the other kind's where a node has none.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Iterator

from .settings import Warehouse, replace_file

log = logging.getLogger(__name__)

# Seconds assumed for a node never timed, by the first part of its unique_id.
DEFAULT_SECONDS = {"model": 1.0, "seed": 0.3, "snapshot": 1.0, "test": 0.1, "unit_test": 0.1}


def seconds_path(warehouse: Warehouse) -> Path:
    return warehouse.path.with_name(warehouse.path.name + ".node-seconds.json")


# The kinds of build whose seconds are kept apart.
FULL, INCREMENTAL = "full", "incremental"


def _read_file(warehouse: Warehouse) -> dict[str, dict[str, float]]:
    """kind -> node -> seconds. A file of before the kinds (one flat map) counts as full builds'."""
    try:
        data = json.loads(seconds_path(warehouse).read_text())
        if all(isinstance(v, (int, float)) for v in data.values()):
            data = {FULL: data}
        return {kind: {str(k): float(v) for k, v in data.get(kind, {}).items()} for kind in (FULL, INCREMENTAL)}
    except (OSError, ValueError, TypeError, AttributeError):
        return {FULL: {}, INCREMENTAL: {}}


def read_seconds(warehouse: Warehouse, kind: str) -> dict[str, float]:
    """node -> seconds for a build of this kind: its own kind's, else the other kind's."""
    data = _read_file(warehouse)
    other = FULL if kind == INCREMENTAL else INCREMENTAL
    return {**data[other], **data[kind]}


def record_seconds(warehouse: Warehouse, results, kind: str) -> None:
    """Merge the execution time of each node of a dbt invocation's results into the kind's seconds."""
    timed = {r.node.unique_id: round(float(r.execution_time), 3) for r in results
             if getattr(r, "node", None) is not None and r.execution_time is not None}
    if not timed:
        return
    data = _read_file(warehouse)
    data[kind] = {**data[kind], **timed}
    replace_file(seconds_path(warehouse), json.dumps(data, sort_keys=True, indent=0) + "\n")


def critical_path_scores(graph, seconds: dict[str, float]) -> dict[str, float]:
    """node -> minus the seconds of the longest path from it to a node without successors."""
    import networkx as nx

    remaining: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        own = seconds.get(node, DEFAULT_SECONDS.get(str(node).split(".", 1)[0], 0.0))
        remaining[node] = own + max((remaining[child] for child in graph.successors(node)), default=0.0)
    return {node: -work for node, work in remaining.items()}


@contextlib.contextmanager
def critical_path_first(seconds: dict[str, float], threads: int) -> Iterator[None]:
    """dbt invocations in this block: ready nodes by critical_path_scores, picked when a thread is free."""
    try:
        from dbt.graph.queue import GraphQueue

        originals = GraphQueue._get_scores, GraphQueue.get
    except (ImportError, AttributeError):  # another dbt: its own order
        log.debug("dbt's GraphQueue is not the one known here: nodes run in dbt's own order")
        yield
        return
    get = originals[1]

    def get_when_a_thread_is_free(self, block: bool = True, timeout: float | None = None):
        with self.lock:  # mark_done notifies some_task_done (a condition on this lock)
            while len(self.in_progress) >= threads:
                self.some_task_done.wait()
        return get(self, block, timeout)

    GraphQueue._get_scores = lambda self, graph: critical_path_scores(graph, seconds)
    GraphQueue.get = get_when_a_thread_is_free
    try:
        yield
    finally:
        GraphQueue._get_scores, GraphQueue.get = originals


def profile_threads(profiles_dir: Path, profile: str = "msgmetrics") -> int:
    """The `threads` of the profile's default target in profiles_dir/profiles.yml (1 if unreadable)."""
    import yaml

    try:
        config = yaml.safe_load((profiles_dir / "profiles.yml").read_text())[profile]
        return max(1, int(config["outputs"][config["target"]]["threads"]))
    except (OSError, KeyError, TypeError, ValueError):
        return 1
