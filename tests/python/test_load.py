"""Loading webhook and order files with the real dlt pipeline into DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import query, run_cli
from msgmetrics.load import load_orders, load_webhooks
from msgmetrics.settings import Warehouse

GOOD = {
    "event_id": "01HXYZ00000000000000000001", "object_type": "email", "metric": "clicked", "timestamp": 1761955200,
    "data": {"campaign_id": 7, "action_id": 42, "delivery_id": "d-1",
             "identifiers": {"id": "cust-00001", "email": "A@Example.com", "cio_id": "c1"},
             "recipient": "a@example.com", "subject": "Hi", "href": "https://x.test/a", "link_id": 1, "machine": False},
}


def _line(**changes) -> str:
    event = {**GOOD, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...})


def test_bad_lines_are_quarantined_with_reasons_and_the_rest_loads(tmp_path):
    lines = [
        _line(),
        '{"event_id": "01HXYZ00000000000000000002", "object_type": "email", truncated',
        _line(event_id=...),
        _line(event_id="01HXYZ00000000000000000004", metric=...),
        _line(event_id="01HXYZ00000000000000000005", timestamp="2026-11-01T00:00:00Z"),
        _line(event_id="01HXYZ00000000000000000006", timestamp=1761955200.5),
        "",
        _line(event_id="01HXYZ00000000000000000007", object_type="live_notification", metric="sent"),
        "[1, 2]",
    ]
    source = tmp_path / "in" / "events.jsonl"
    source.parent.mkdir()
    source.write_text("\n".join(lines) + "\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_webhooks(warehouse, [str(source)])

    assert result.rows_added == 2
    assert result.stats.quarantined == 6 and result.stats.unknown_events == 1
    rows = query(warehouse.path, """
        select line_number, reason, raw_line from raw_customerio.webhook_events_quarantine order by line_number""")
    assert [(n, reason) for n, reason, _ in rows] == [
        (2, "not valid JSON"),
        (3, "missing required field(s): event_id"),
        (4, "missing required field(s): metric"),
        (5, "timestamp is not an integer of unix seconds (got varchar)"),
        (6, "timestamp is not an integer of unix seconds (got double)"),
        (9, "not a JSON object (got array)"),
    ]
    assert rows[0][2] == lines[1]
    assert query(warehouse.path, """
        select event_id, is_known_event from raw_customerio.webhook_events order by event_id""") == [
        ("01HXYZ00000000000000000001", True), ("01HXYZ00000000000000000007", False)]


def test_reloading_and_retried_webhooks_add_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_line() + "\n" + _line() + "\n")  # a retried webhook in the same file
    warehouse = Warehouse(tmp_path / "w.duckdb")
    first = load_webhooks(warehouse, [str(folder)])
    (folder / "b.jsonl").write_text(_line() + "\n")  # the same event retried in a later file
    second = load_webhooks(warehouse, [str(folder)])
    third = load_webhooks(warehouse, [str(folder)], reread=True)

    assert (first.rows_after, second.rows_after, third.rows_after) == (1, 1, 1)
    assert (second.stats.files_read, second.stats.files_skipped) == (1, 1)  # only the new file is read
    assert third.stats.files_read == 2


def test_state_lives_with_the_data_so_a_fresh_machine_resumes(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_line() + "\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load_webhooks(warehouse, [str(folder)])
    import shutil

    shutil.rmtree(warehouse.pipelines_dir)  # a new machine: only the warehouse file remains
    again = load_webhooks(warehouse, [str(folder)])
    assert again.stats.files_skipped == 1 and again.stats.files_read == 0


def test_loaded_data_files_are_not_kept_beside_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("LOAD__DELETE_COMPLETED_JOBS", raising=False)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_line() + "\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    first = load_webhooks(warehouse, [str(folder)])
    (folder / "b.jsonl").write_text(_line(event_id="01HXYZ00000000000000000009") + "\n")
    second = load_webhooks(warehouse, [str(folder)])

    assert (first.rows_after, second.rows_after) == (1, 2)
    packages = sorted((warehouse.pipelines_dir / "msgmetrics_webhooks" / "load" / "loaded").iterdir())
    assert [p.name for p in packages] == sorted(first.load_ids + second.load_ids)
    # the packages' state stays; their data files (Parquet, state rows) are deleted once loaded
    kept = [f.name for p in packages for f in p.rglob("*") if f.is_file() and "jobs" in f.parent.name]
    assert kept == []
    assert all((p / "load_package_state.json").exists() for p in packages)


def test_raw_text_is_stored_zstd_compressed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(_line(event_id=f"01HXYZ{n:020d}") + "\n" for n in range(3000)))
    warehouse = Warehouse(tmp_path / "w.duckdb")

    load_webhooks(warehouse, [str(folder)])

    compressions = dict(query(warehouse.path, """
        select column_name, list(distinct compression order by compression)
        from pragma_storage_info('raw_customerio.webhook_events')
        where segment_type = 'VARCHAR' and compression <> 'Constant' group by all"""))
    assert compressions["data"] == ["ZSTD"] and compressions["event_id"] == ["ZSTD"]


def test_orders_load_from_jsonl_and_csv_with_quarantine(tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        '{"order_id": "o1", "customer_id": "cust-00001", "ordered_at": "2026-10-01T10:00:00Z", "revenue": 10.5}\n'
        '{"order_id": "o2", "email": "B@Example.com", "ordered_at": "2026-10-01T11:00:00+02:00", "revenue": "3"}\n'
        '{"order_id": "o3", "ordered_at": "2026-10-01T10:00:00Z", "revenue": 1}\n'
        'oops\n'
    )
    (folder / "b.csv").write_text("order_id,customer_id,email,ordered_at,revenue,currency\no4,cust-00002,,2026-10-02 08:00:00,7.25,eur\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_orders(warehouse, [str(folder)])
    load_orders(warehouse, [str(folder)])  # a re-run never duplicates

    assert result.rows_added == 3 and result.stats.quarantined == 2
    assert query(warehouse.path, """
        select order_id, customer_id, email, timezone('UTC', ordered_at)::varchar, revenue::varchar, currency
        from raw_shop.orders order by order_id""") == [
        ("o1", "cust-00001", None, "2026-10-01 10:00:00", "10.50", "USD"),
        ("o2", None, "b@example.com", "2026-10-01 09:00:00", "3.00", "USD"),
        ("o4", "cust-00002", None, "2026-10-02 08:00:00", "7.25", "EUR"),
    ]
    assert sorted(r for (r,) in query(warehouse.path, "select reason from raw_shop.orders_quarantine")) == [
        "no customer_id or email: the order cannot be tied to a person", "not a JSON object"]


def test_demo_data_loads_every_good_line_once(built_warehouse, demo_data):
    _, manifest = demo_data
    assert query(built_warehouse, "select count(*), count(distinct event_id) from raw_customerio.webhook_events") == [
        (manifest["distinct_event_ids"], manifest["distinct_event_ids"])]
    assert query(built_warehouse, "select count(*) from raw_customerio.webhook_events_quarantine") == [
        (manifest["bad_lines"],)]
    assert query(built_warehouse, "select count(*) from raw_shop.orders") == [(manifest["orders"],)]


def test_missing_path_fails_with_a_clear_message(tmp_path):
    proc = run_cli(tmp_path / "w.duckdb", "load", "webhooks", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 1
    assert "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- dedup in the reader
def _event(n: int, **changes) -> str:
    return _line(event_id=f"01HXYZ{n:020d}", **changes)


def _stored(warehouse: Warehouse) -> list[tuple]:
    return query(warehouse.path, """
        select event_id, regexp_extract(_source_file, '[^/]+$'), _line_number, data::json->>'subject'
        from raw_customerio.webhook_events order by event_id""")


def test_retries_in_one_load_keep_the_first_good_copy_across_files_and_groups(tmp_path, monkeypatch):
    import msgmetrics.sources.customerio_webhooks as webhooks

    monkeypatch.setattr(webhooks, "GROUP_BYTES", 1)  # every file its own DuckDB query: dedup spans groups
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join([
        _event(1, data={**GOOD["data"], "subject": "first"}),
        _event(2, data={**GOOD["data"], "subject": "first"}),
        _event(1, data={**GOOD["data"], "subject": "retry"}),  # retried in the same file
        _event(3, metric=...),  # a bad copy first: quarantined, the good copy later wins
    ]) + "\n")
    (folder / "b.jsonl").write_text("\n".join([
        _event(2, data={**GOOD["data"], "subject": "retry"}),  # retried in the next file
        _event(3, data={**GOOD["data"], "subject": "first good"}),
        _event(4, data={**GOOD["data"], "subject": "first"}),
    ]) + "\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_webhooks(warehouse, [str(folder)])

    assert _stored(warehouse) == [
        ("01HXYZ00000000000000000001", "a.jsonl", 1, "first"),
        ("01HXYZ00000000000000000002", "a.jsonl", 2, "first"),
        ("01HXYZ00000000000000000003", "b.jsonl", 2, "first good"),
        ("01HXYZ00000000000000000004", "b.jsonl", 3, "first"),
    ]
    assert (result.rows_added, result.stats.events_read, result.stats.events_kept) == (4, 6, 4)
    assert query(warehouse.path, """
        select regexp_extract(source_file, '[^/]+$'), line_number, reason, raw_line
        from raw_customerio.webhook_events_quarantine""") == [
        ("a.jsonl", 4, "missing required field(s): metric", _event(3, metric=...))]


def test_line_numbers_are_exact_in_a_file_duckdb_reads_in_parallel(tmp_path):
    # The reader's DuckDB does not preserve insertion order (faster), and past ~200 MB it
    # reads one file with both threads, storing lines out of file order. Line numbers come
    # from a streaming window, which DuckDB keeps in file order regardless: this checks it
    # on ~300 MB, so a DuckDB upgrade that changed it would fail here, not in a user's lineage.
    folder = tmp_path / "in"
    folder.mkdir()
    lines, pad = 140_000, "x" * 1_900
    bad = {70_001: "not json", 139_990: _event(139_990, metric=...)}
    with open(folder / "big.jsonl", "w") as f:
        for n in range(1, lines + 1):
            if n == 120_000:  # a retry of line 5's event: the first copy stays
                f.write(_event(5, data={**GOOD["data"], "subject": "retry " + pad}) + "\n")
            else:
                f.write(bad.get(n) or _event(n, data={**GOOD["data"], "subject": pad}))
                f.write("\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_webhooks(warehouse, [str(folder)])

    stored = query(warehouse.path, """
        select _line_number, event_id, starts_with(data::json->>'subject', 'retry')
        from raw_customerio.webhook_events order by _line_number""")
    expected = [(n, f"01HXYZ{n:020d}", False) for n in range(1, lines + 1) if n not in bad and n != 120_000]
    assert stored == expected
    assert (result.stats.events_read, result.stats.events_kept, result.stats.quarantined) == (lines - 2, lines - 3, 2)
    assert query(warehouse.path, """
        select line_number, reason from raw_customerio.webhook_events_quarantine order by line_number""") == [
        (70_001, "not valid JSON"), (139_990, "missing required field(s): metric")]


def test_later_loads_and_reread_add_only_events_not_stored_yet(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join([_event(1), _event(2), "not json"]) + "\n")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load_webhooks(warehouse, [str(folder)])
    first_loaded = query(warehouse.path, "select event_id, _loaded_at from raw_customerio.webhook_events order by 1")

    (folder / "b.jsonl").write_text("\n".join([_event(2, data={**GOOD["data"], "subject": "retry"}), _event(3)]) + "\n")
    second = load_webhooks(warehouse, [str(folder)])  # a.jsonl unchanged: skipped
    reread = load_webhooks(warehouse, [str(folder)], reread=True)
    with (folder / "a.jsonl").open("a") as f:  # the receiver appends to a file: it is read again
        f.write(_event(1) + "\n" + _event(5) + "\n")
    grown = load_webhooks(warehouse, [str(folder)])

    assert (second.rows_added, second.stats.files_read, second.stats.events_kept) == (1, 1, 1)
    assert (reread.rows_added, reread.stats.files_read, reread.stats.events_read) == (0, 2, 4)
    assert (grown.rows_added, grown.stats.files_read, grown.stats.events_read) == (1, 1, 4)
    assert [(e, f, n) for e, f, n, _ in _stored(warehouse)] == [
        ("01HXYZ00000000000000000001", "a.jsonl", 1),
        ("01HXYZ00000000000000000002", "a.jsonl", 2),
        ("01HXYZ00000000000000000003", "b.jsonl", 2),
        ("01HXYZ00000000000000000005", "a.jsonl", 5),
    ]
    # stored rows are never rewritten (staging picks up only new _loaded_at)
    assert query(warehouse.path, """
        select event_id, _loaded_at from raw_customerio.webhook_events
        where event_id in ('01HXYZ00000000000000000001', '01HXYZ00000000000000000002') order by 1""") == first_loaded
    # the bad line is kept once, however often its file is read
    assert query(warehouse.path, """
        select line_number, reason, raw_line from raw_customerio.webhook_events_quarantine""") == [
        (3, "not valid JSON", "not json")]


def test_any_destination_path_merges_insert_only_with_the_same_result(tmp_path):
    """Without dedup_against_destination (e.g. PostgreSQL), dlt's insert-only merge skips stored ids."""
    import dlt

    from msgmetrics.sources.customerio_webhooks import customerio_webhooks

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join([_event(1), _event(2), _event(1)]) + "\n")
    pipeline = dlt.pipeline(pipeline_name="generic", destination=dlt.destinations.duckdb(str(tmp_path / "g.duckdb")),
                            dataset_name="raw_customerio", pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run(customerio_webhooks([str(folder)]), loader_file_format="parquet")
    (folder / "b.jsonl").write_text("\n".join([_event(2), _event(3), _event(3)]) + "\n")
    pipeline.run(customerio_webhooks([str(folder)]), loader_file_format="parquet")
    pipeline.run(customerio_webhooks([str(folder)], reread=True), loader_file_format="parquet")

    assert query(tmp_path / "g.duckdb", """
        select event_id, regexp_extract(_source_file, '[^/]+$'), _line_number
        from raw_customerio.webhook_events order by 1""") == [
        ("01HXYZ00000000000000000001", "a.jsonl", 1),
        ("01HXYZ00000000000000000002", "a.jsonl", 2),
        ("01HXYZ00000000000000000003", "b.jsonl", 2),
    ]
