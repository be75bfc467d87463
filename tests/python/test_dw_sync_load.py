"""Loading Customer.io Data Warehouse Sync Parquet files with the real dlt pipeline into DuckDB."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import REPO, query, run_cli
from msgmetrics.load import load_dw_sync
from msgmetrics.settings import Warehouse
from msgmetrics.sources.customerio_webhooks.settings import KNOWN_METRICS

WS = "111528"


def _write(folder: Path, name: str, columns: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), folder / name)
    return folder / name


def _delivery_rows(ids, people, seqs, **extra):
    n = len(ids)
    return {"workspace_id": [int(WS)] * n, "delivery_id": ids, "internal_customer_id": people,
            "delivery_type": ["email"] * n, "campaign_id": [101] * n, "action_id": [1011] * n,
            "created_at": [1790000000] * n, "seq_num": seqs, **extra}


def _raw(warehouse: Warehouse, sql: str) -> list[tuple]:
    return query(warehouse.path, sql)


def test_only_new_files_are_read_on_a_second_run(tmp_path):
    folder = tmp_path / "export"
    _write(folder, f"deliveries_v4_{WS}_100.parquet", _delivery_rows(["d1", "d2"], ["c1", "c2"], [100, 101]))
    warehouse = Warehouse(tmp_path / "w.duckdb")

    first = load_dw_sync(warehouse, [str(folder)])
    _write(folder, f"deliveries_v4_{WS}_200.parquet", _delivery_rows(["d3"], ["c3"], [200]))
    second = load_dw_sync(warehouse, [str(folder)])
    shutil.rmtree(warehouse.pipelines_dir)  # a new machine: the file list comes back from the warehouse
    third = load_dw_sync(warehouse, [str(folder)])
    forced = load_dw_sync(warehouse, [str(folder)], reread=True)

    assert (first.stats.files_read, first.rows_after["deliveries"]) == (1, 2)
    assert (second.stats.files_read, second.stats.files_skipped, second.rows_added("deliveries")) == (1, 1, 1)
    assert (third.stats.files_read, third.stats.files_skipped) == (0, 2)
    assert forced.stats.files_read == 2 and forced.rows_after["deliveries"] == 3
    assert _raw(warehouse, "select delivery_id, internal_customer_id, seq_num from raw_customerio_dw.deliveries "
                           "order by 1") == [("d1", "c1", 100), ("d2", "c2", 101), ("d3", "c3", 200)]


def test_latest_seq_num_wins_across_files_and_within_a_load(tmp_path):
    folder = tmp_path / "export"
    # d1: three versions, two in the same file; d2: re-exported in a later file of the same load
    _write(folder, f"deliveries_v4_{WS}_100.parquet",
           _delivery_rows(["d1", "d1", "d2"], ["anon-1", "c1-old", "c2-old"], [101, 100, 102]))
    _write(folder, f"deliveries_v4_{WS}_200.parquet", _delivery_rows(["d2", "d1"], ["c2", "c1"], [202, 201]))
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_dw_sync(warehouse, [str(folder)])

    assert _raw(warehouse, """select delivery_id, internal_customer_id, seq_num, _source_file like '%_200.parquet'
                              from raw_customerio_dw.deliveries order by 1""") == [
        ("d1", "c1", 201, True), ("d2", "c2", 202, True)]
    assert result.stats.superseded == 3  # d1@100 (same file), d1@101 and d2@102 (later file)
    assert result.stats.rows_read == {"deliveries": 4}


def test_an_older_seq_num_arriving_later_does_not_overwrite_a_newer_one(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    _write(new, f"deliveries_v4_{WS}_200.parquet", _delivery_rows(["d1", "d2"], ["c1", "c2"], [201, 202]))
    _write(new, f"people_v4_{WS}_200.parquet", {"internal_customer_id": ["c1"], "customer_id": ["cust-1"],
                                                "email_addr": ["new@x.com"], "seq_num": [203]})
    # an older export listed late (e.g. a delayed upload), plus a key that is new
    _write(old, f"deliveries_v4_{WS}_100.parquet", _delivery_rows(["d1", "d3"], ["anon-1", "c3"], [101, 103]))
    _write(old, f"people_v4_{WS}_100.parquet", {"internal_customer_id": ["c1"], "customer_id": [None],
                                                "email_addr": ["old@x.com"], "seq_num": [104]})
    warehouse = Warehouse(tmp_path / "w.duckdb")

    load_dw_sync(warehouse, [str(new)])
    late = load_dw_sync(warehouse, [str(old)])
    # the same older export again in one load with the newer one: still the newer wins
    both = load_dw_sync(warehouse, [str(old), str(new)], reread=True)

    expected = [("d1", "c1", 201), ("d2", "c2", 202), ("d3", "c3", 103)]
    assert late.stats.superseded == 2 and late.rows_added("deliveries") == 1
    assert _raw(warehouse, "select delivery_id, internal_customer_id, seq_num from raw_customerio_dw.deliveries "
                           "order by 1") == expected
    assert _raw(warehouse, "select customer_id, email_addr, seq_num from raw_customerio_dw.people") == [
        ("cust-1", "new@x.com", 203)]
    assert both.rows_after["deliveries"] == 3
    assert _raw(warehouse, "select delivery_id, internal_customer_id, seq_num from raw_customerio_dw.deliveries "
                           "order by 1") == expected


def test_unknown_unreadable_and_keyless_files_are_skipped_with_a_reason_and_the_rest_loads(tmp_path):
    folder = tmp_path / "export"
    _write(folder, f"deliveries_v4_{WS}_100.parquet", _delivery_rows(["d1", None, "d2"], ["c1", "c9", "c2"],
                                                                      [100, 101, 102]))
    _write(folder, f"widgets_v1_{WS}_100.parquet", {"a": [1]})
    _write(folder, "notes.parquet", {"a": [1]})
    _write(folder, f"metrics_v4_{WS}_100.parquet", {"event_id": ["e1"], "metric": ["sent"]})  # no delivery_id
    (folder / f"outputs_v4_{WS}_100.parquet").write_bytes(b"PAR1 half an upload")
    warehouse = Warehouse(tmp_path / "w.duckdb")

    result = load_dw_sync(warehouse, [str(folder)])

    rows = _raw(warehouse, """select regexp_extract(source_file, '[^/]+$'), row_number, reason, raw_row
                              from raw_customerio_dw.dw_sync_quarantine order by 1, 2""")
    assert [r[:3] for r in rows] == [
        (f"deliveries_v4_{WS}_100.parquet", 2, "missing delivery_id"),
        (f"metrics_v4_{WS}_100.parquet", None, "missing required column(s): delivery_id"),
        ("notes.parquet", None, "file name does not match <type>_v<version>_<workspace id>_<sequence>.parquet"),
        (f"outputs_v4_{WS}_100.parquet", None,
         f"cannot read Parquet: Invalid Input Error: No magic bytes found at end of file "
         f"'outputs_v4_{WS}_100.parquet'"),
        (f"widgets_v1_{WS}_100.parquet", None, "unknown file type 'widgets' (known: deliveries, metrics, people, "
                                               "subjects, outputs, delivery_contents, attributes)"),
    ]
    assert json.loads(rows[0][3])["internal_customer_id"] == "c9"  # the row is kept as it was
    assert _raw(warehouse, "select delivery_id from raw_customerio_dw.deliveries order by 1") == [("d1",), ("d2",)]
    assert (result.stats.files_read, result.stats.files_quarantined, result.stats.rows_quarantined) == (1, 4, 1)

    # the unreadable file is tried again (it may have been mid-upload); the others are not
    _write(folder, f"outputs_v4_{WS}_100.parquet", {"output_id": ["o1"], "delivery_id": ["d1"], "seq_num": [5]})
    again = load_dw_sync(warehouse, [str(folder)])
    assert (again.stats.files_read, again.stats.files_quarantined) == (1, 0)
    assert _raw(warehouse, "select output_id, delivery_id from raw_customerio_dw.outputs") == [("o1", "d1")]
    assert _raw(warehouse, "select count(*) from raw_customerio_dw.dw_sync_quarantine") == [(5,)]  # no duplicates


def test_columns_are_read_leniently(tmp_path):
    folder = tmp_path / "export"
    # ids as integers, times as Parquet timestamps and as epoch milliseconds, an unknown column,
    # optional columns missing, no workspace_id (taken from the file name)
    _write(folder, f"metrics_v4_{WS}_100.parquet", {
        "event_id": ["e1", "e2"], "delivery_id": [7001, 7002], "metric": ["opened", "clicked"],
        "created_at": pa.array([datetime(2026, 10, 1, 10, tzinfo=timezone.utc)] * 2, pa.timestamp("us", "UTC")),
        "prefetched": [1, 0], "seq_num": [1, 2], "new_column": ["x", "y"]})
    _write(folder, f"metrics_v3_{WS}_90.parquet", {
        "event_id": ["e0"], "delivery_id": ["7000"], "metric": ["sent"], "created_at": [1790000000000],
        "seq_num": [0]})
    # people without seq_num: versioned by the file's sequence number
    _write(folder, f"people_v4_{WS}_100.parquet", {"internal_customer_id": [42], "customer_id": ["old"]})
    _write(folder, f"people_v4_{WS}_300.parquet", {"internal_customer_id": [42], "customer_id": ["new"],
                                                   "deleted": ["true"]})
    warehouse = Warehouse(tmp_path / "w.duckdb")

    load_dw_sync(warehouse, [f"file://{folder}/"])  # a bucket-style URL

    assert _raw(warehouse, """
        select event_id, workspace_id, delivery_id, timezone('UTC', created_at)::varchar, prefetched, machine,
               new_column, seq_num, _version
        from raw_customerio_dw.metrics order by 1""") == [
        ("e0", WS, "7000", "2026-09-21 14:13:20", None, None, None, 0, 0),
        ("e1", WS, "7001", "2026-10-01 10:00:00", True, None, "x", 1, 1),
        ("e2", WS, "7002", "2026-10-01 10:00:00", False, None, "y", 2, 2),
    ]
    assert _raw(warehouse, """select internal_customer_id, customer_id, deleted, seq_num, _version, _source_seq
                              from raw_customerio_dw.people""") == [("42", "new", True, None, 300, 300)]
    assert _raw(warehouse, """select data_type from information_schema.columns
                              where table_schema = 'raw_customerio_dw' and table_name = 'metrics'
                                and column_name = '_loaded_at'""") == [("TIMESTAMP WITH TIME ZONE",)]


def test_files_gone_from_the_folder_are_forgotten(tmp_path):
    folder = tmp_path / "export"
    first = _write(folder, f"deliveries_v4_{WS}_100.parquet", _delivery_rows(["d1"], ["c1"], [100]))
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load_dw_sync(warehouse, [str(folder)])
    first.unlink()  # expired after ingestion, as Customer.io advises
    _write(folder, f"deliveries_v4_{WS}_200.parquet", _delivery_rows(["d2"], ["c2"], [200]))
    load_dw_sync(warehouse, [str(folder)])

    (state,) = _raw(warehouse, """select state from raw_customerio_dw._dlt_pipeline_state
                                  order by created_at desc limit 1""")[0]
    import base64
    import zlib

    decoded = json.loads(zlib.decompress(base64.b64decode(state)))
    files = decoded["sources"]["customerio_dw_sync"]["resources"]["dw_sync_files"]["files"]
    assert [Path(url).name for url in files] == [f"deliveries_v4_{WS}_200.parquet"]
    assert _raw(warehouse, "select delivery_id from raw_customerio_dw.deliveries order by 1") == [("d1",), ("d2",)]


def test_cli_prints_a_summary_and_records_the_run(tmp_path):
    folder = tmp_path / "export"
    _write(folder, f"deliveries_v4_{WS}_100.parquet", _delivery_rows(["d1", "d1"], ["c0", "c1"], [1, 2]))
    _write(folder, f"metrics_v4_{WS}_100.parquet", {"event_id": ["e1", None], "delivery_id": ["d1", "d1"],
                                                    "metric": ["sent", "opened"], "seq_num": [3, 4]})
    _write(folder, f"mystery_v1_{WS}_100.parquet", {"a": [1]})
    warehouse = tmp_path / "w.duckdb"

    proc = run_cli(warehouse, "load", "dw-sync", str(folder))

    assert ("dw-sync: 2 file(s) read, 0 unchanged skipped, 1 skipped with a reason; rows read: deliveries 1 (1 new), "
            "metrics 1 (1 new); 1 older version(s) ignored; 1 row(s) quarantined") in proc.stdout
    assert "quarantined 1: missing event_id" in proc.stdout
    assert "quarantined 1: unknown file type 'mystery'" in proc.stdout
    (loaded,) = query(warehouse, "select loaded from msgmetrics_ledger.runs where command = 'load dw-sync'")[0]
    assert json.loads(loaded) == {
        "raw_customerio_dw.deliveries": {"rows_added": 1, "rows_total": 1, "rows_read": 1},
        "raw_customerio_dw.metrics": {"rows_added": 1, "rows_total": 1, "rows_read": 1},
        "raw_customerio_dw.dw_sync_quarantine": {"rows_added": 2, "rows_total": 2, "quarantined": 2},
    }
    missing = run_cli(warehouse, "load", "dw-sync", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_known_event_list_in_sql_matches_the_webhook_loaders():
    text = (REPO / "macros" / "customerio_known_events.sql").read_text()
    in_sql = set(re.findall(r"'([a-z_]+\.[a-z_]+)'", text))
    assert in_sql == {f"{t}.{m}" for t, ms in KNOWN_METRICS.items() for m in ms}
