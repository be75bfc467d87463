"""dbt's own queue, ordered by the critical path and picked when a thread is free (dbt_schedule)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import networkx as nx
from dbt.graph.queue import GraphQueue

from msgmetrics.dbt_schedule import (FULL, INCREMENTAL, critical_path_first, critical_path_scores, read_seconds,
                                     record_seconds, seconds_path)
from msgmetrics.settings import Warehouse

# a_leaf is ready with b_head, whose chain (b_head -> c -> d) holds most of the work;
# dbt's own order (same level, then by name) would start a_leaf first
SECONDS = {"model.p.a_leaf": 3.0, "model.p.b_head": 1.0, "model.p.c": 5.0, "model.p.d": 5.0}


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(SECONDS)
    graph.add_edges_from([("model.p.b_head", "model.p.c"), ("model.p.c", "model.p.d")])
    return graph


def _queue() -> GraphQueue:
    manifest = SimpleNamespace(expect=lambda uid: SimpleNamespace(unique_id=uid))
    return GraphQueue(_graph(), manifest, set(SECONDS))


def test_scores_are_minus_the_longest_path_of_work_below_a_node_with_defaults_per_kind():
    assert critical_path_scores(_graph(), SECONDS) == {
        "model.p.a_leaf": -3.0, "model.p.b_head": -11.0, "model.p.c": -10.0, "model.p.d": -5.0}
    graph = _graph()
    graph.add_edge("model.p.d", "test.p.not_null_d")  # never timed: a test counts 0.1 s, a model 1 s
    assert critical_path_scores(graph, {})["model.p.b_head"] == -3.1


def test_dbt_takes_the_critical_path_first_and_only_when_a_thread_is_free():
    assert _queue().get().unique_id == "model.p.a_leaf"  # dbt's own order
    with critical_path_first(SECONDS, threads=1):
        queue = _queue()
        assert queue.get().unique_id == "model.p.b_head"
        picked = []
        waiting = threading.Thread(target=lambda: picked.append(queue.get().unique_id))
        waiting.start()
        waiting.join(0.3)
        assert picked == []  # the one thread is busy: nothing is taken off the queue yet
        queue.mark_done("model.p.b_head")  # c is now ready beside a_leaf, and has more below it
        waiting.join(5)
        assert picked == ["model.p.c"]
    assert _queue().get().unique_id == "model.p.a_leaf"  # dbt's own again after the block


def _results(**seconds):
    return [SimpleNamespace(node=SimpleNamespace(unique_id=f"model.p.{n}"), execution_time=s)
            for n, s in seconds.items()]


def test_node_seconds_are_merged_across_builds(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert read_seconds(warehouse, INCREMENTAL) == {}

    record_seconds(warehouse, _results(a=1.25, b=2.0), INCREMENTAL)
    record_seconds(warehouse, _results(b=0.5, c=3.0), INCREMENTAL)
    assert read_seconds(warehouse, INCREMENTAL) == {"model.p.a": 1.25, "model.p.b": 0.5, "model.p.c": 3.0}


def test_full_and_incremental_builds_keep_their_own_seconds(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    record_seconds(warehouse, _results(deliveries=43.5, states=5.1, only_full=2.0), FULL)
    record_seconds(warehouse, _results(deliveries=2.1, states=2.8), INCREMENTAL)
    record_seconds(warehouse, _results(deliveries=40.0), FULL)  # a full refresh after the incremental build

    # each kind its own; a node never timed in this kind takes the other kind's seconds
    assert read_seconds(warehouse, INCREMENTAL) == {
        "model.p.deliveries": 2.1, "model.p.states": 2.8, "model.p.only_full": 2.0}
    assert read_seconds(warehouse, FULL) == {
        "model.p.deliveries": 40.0, "model.p.states": 5.1, "model.p.only_full": 2.0}


def test_a_file_of_before_the_kinds_counts_as_full_builds(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    seconds_path(warehouse).write_text('{"model.p.a": 4.0, "model.p.b": 1.0}\n')
    record_seconds(warehouse, _results(a=0.5), INCREMENTAL)

    assert read_seconds(warehouse, INCREMENTAL) == {"model.p.a": 0.5, "model.p.b": 1.0}
    assert read_seconds(warehouse, FULL) == {"model.p.a": 4.0, "model.p.b": 1.0}
