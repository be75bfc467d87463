"""The marts from a Data Warehouse Sync export: the same as from the webhooks, alone or combined."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import DAYS, PEOPLE, REPO, SEED, query, run_cli
from msgmetrics.dw_sync_export import write_dw_sync_export
from test_postgres import postgres_database  # noqa: F401  (the fixture: a fresh PostgreSQL database)

COHORTS = "select cohort_name, person_key, amplitude_user_id from marts.cohort_membership"
DELIVERIES = """select delivery_id, person_key, cio_id, customer_id, channel, parent_type, parent_id, campaign_id,
                       broadcast_id, newsletter_id, transactional_message_id, action_id, content_id, sent_at,
                       delivered_at, first_opened_at, first_human_opened_at, first_clicked_at,
                       first_human_clicked_at, bounced_at, unsubscribed_at, converted_at, open_count,
                       human_click_count, machine_click_count
                from marts.fct_message_deliveries"""
# every column but the load-time watermarks (and the cohorts' build time)
SNAPSHOT = {
    "marts.fct_message_events": ("loaded_at", "group_loaded_at"),
    "marts.fct_message_deliveries": ("last_loaded_at",),
    "marts.fct_message_metrics_daily": ("last_loaded_at",),
    "marts.cohort_membership": ("computed_at",),
    "marts.xref_user_identity": (),
    "intermediate.int_customerio_dw__message_events": (),
    "intermediate.int_messaging__delivery_days": ("last_loaded_at",),
    "intermediate.int_identity__people_observed": ("last_loaded_at",),
}


@pytest.fixture(scope="module")
def dw_export(tmp_path_factory, demo_data) -> Path:
    data_dir, _ = demo_data
    out = tmp_path_factory.mktemp("dw_sync")
    write_dw_sync_export(data_dir, out)
    return out


def _rows(warehouse: Path, sql: str) -> set[tuple]:
    return set(query(warehouse, sql))


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for table, skip in SNAPSHOT.items():
            cols = [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in skip]
            out[table] = con.execute(f"select {', '.join(cols)} from {table} order by all").fetchall()
        return out
    finally:
        con.close()


def test_demo_from_dw_sync_gives_the_webhook_demos_cohorts(tmp_path, demo_data, built_warehouse):
    _, manifest = demo_data
    warehouse = tmp_path / "demo.duckdb"
    out = tmp_path / "data"
    proc = run_cli(warehouse, "demo", "--source", "dw-sync", "--people", str(PEOPLE), "--days", str(DAYS),
                   "--seed", str(SEED), "--out", str(out))

    demo_manifest = json.loads((out / "manifest.json").read_text())
    assert demo_manifest["counts_by_metric"] == manifest["counts_by_metric"]  # the same generated data
    assert "wrote a Data Warehouse Sync export to" in proc.stdout and "the fake Amplitude holds" in proc.stdout
    assert query(warehouse, """select count(*) from information_schema.tables
                               where table_schema = 'raw_customerio'""") == [(0,)]  # no webhooks loaded
    assert query(warehouse, "select distinct event_source from marts.fct_message_events") == [("dw_sync",)]
    # the same people in the same cohorts, with the same Amplitude ids, as the webhook build
    dw, webhook = _rows(warehouse, COHORTS), _rows(built_warehouse, COHORTS)
    assert dw == webhook
    assert {c for c, _, _ in dw} >= {"high_intent_engagers", "fatigue_risk", "sms_clickers_14d", "never_engaged"}
    # and every delivery with the same person, parent and metric times
    assert _rows(warehouse, DELIVERIES) == _rows(built_warehouse, DELIVERIES)
    assert query(warehouse, "select count(*) from marts.fct_message_deliveries where person_key like 'cio:anon-%'") \
        == [(0,)]  # deliveries re-exported under the known person replaced their first version


def test_webhooks_and_dw_sync_together_count_every_fact_once(warehouse, built_warehouse, dw_export, demo_data):
    run_cli(warehouse, "load", "dw-sync", str(dw_export))
    run_cli(warehouse, "build", "--as-of", demo_data[1]["end"])  # incremental, on top of the webhook build

    (dw_metrics,) = query(warehouse, "select count(*) from raw_customerio_dw.metrics")[0]
    assert query(warehouse, """select event_source, count(*) from intermediate.int_messaging__events_unioned
                               where event_source = 'dw_sync' group by 1""") == [("dw_sync", dw_metrics)]
    # the webhooks report every fact the export does, so they win every one: marts as webhook-only
    assert query(warehouse, "select count(*) from marts.fct_message_events") == \
        query(built_warehouse, "select count(*) from marts.fct_message_events")
    assert query(warehouse, "select distinct event_source from marts.fct_message_events") == [("webhook",)]
    mine, webhook_only = _snapshot(warehouse), _snapshot(built_warehouse)
    for table in ("marts.fct_message_events", "marts.fct_message_deliveries", "marts.fct_message_metrics_daily",
                  "marts.cohort_membership"):
        assert mine[table] == webhook_only[table], table


def test_dw_sync_fills_in_the_facts_the_webhooks_missed(tmp_path, demo_data, dw_export, built_warehouse):
    data_dir, manifest = demo_data
    files = sorted((data_dir / "webhooks").glob("*.jsonl"))
    partial = tmp_path / "webhooks"
    partial.mkdir()
    for f in files[: len(files) * 2 // 3]:  # the receiver was down for the last third
        shutil.copy(f, partial / f.name)
    warehouse = tmp_path / "w.duckdb"
    run_cli(warehouse, "load", "webhooks", str(partial))
    run_cli(warehouse, "load", "dw-sync", str(dw_export))
    run_cli(warehouse, "build", "--as-of", manifest["end"])

    facts = "select fact_group_key from marts.fct_message_events where delivery_id is not null"
    assert _rows(warehouse, facts) == _rows(built_warehouse, facts)  # every delivery fact, from one source or other
    by_webhook = _rows(warehouse, """select distinct 'delivery|' || delivery_id || '|' || metric
                                     from staging.stg_customerio__message_events where delivery_id is not null""")
    sources = dict(query(warehouse, """select fact_group_key, max(event_source) from marts.fct_message_events
                                       where delivery_id is not null group by 1 having count(distinct event_source) = 1"""))
    assert len(sources) == len(_rows(warehouse, facts))  # one source per fact
    assert {k for k, s in sources.items() if s == "webhook"} == {k for (k,) in by_webhook}
    dw_facts = {k for k, s in sources.items() if s == "dw_sync"}
    assert len(dw_facts) > 1000
    # a fact the webhooks missed has all its DW events
    (missing_events,) = query(warehouse, """
        select count(*) from intermediate.int_customerio_dw__message_events d
        where not exists (select 1 from staging.stg_customerio__message_events w
                          where w.delivery_id = d.delivery_id and w.metric = d.metric)""")[0]
    assert query(warehouse, "select count(*) from marts.fct_message_events where event_source = 'dw_sync'") == [
        (missing_events,)]


def _split_point(export: Path) -> int:
    """A file sequence number to split the export at (the first file of a batch in its second
    half) such that the first part holds metrics whose delivery comes only in the second, and
    deliveries whose re-export (under the known person) comes only in the second."""
    con = duckdb.connect()
    try:
        con.execute(f"""
            create view files as
            select *, cast(regexp_extract(filename, '_([0-9]+)[.]parquet$', 1) as hugeint) as file_seq
            from read_parquet('{export}/deliveries_*.parquet', filename = true)
        """)
        (cut,) = con.execute(f"""
            with delivery_files as (
                select delivery_id, min(file_seq) as first_seq, max(file_seq) as last_seq from files group by 1
            ), metric_files as (
                select delivery_id, cast(regexp_extract(filename, '_([0-9]+)[.]parquet$', 1) as hugeint) as seq
                from read_parquet('{export}/metrics_*.parquet', filename = true)
            ), cuts as (
                select distinct file_seq as cut from files
                where file_seq >= (select quantile_disc(file_seq, 0.5) from files)
            )
            select min(cut) from cuts
            where exists (select 1 from delivery_files d where d.first_seq < cut and cut <= d.last_seq)
              and exists (select 1 from metric_files m join delivery_files d using (delivery_id)
                          where m.seq < cut and cut <= d.first_seq)
        """).fetchall()[0]
        assert cut is not None, "the export has no batch boundary with late deliveries and re-exports"
        return int(cut)
    finally:
        con.close()


def test_metrics_before_their_delivery_get_it_in_a_later_build_incremental_equals_full(tmp_path, demo_data, dw_export):
    _, manifest = demo_data
    cut = _split_point(dw_export)
    files = sorted(dw_export.glob("*.parquet"))
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    for f in files:
        shutil.copy(f, (first if int(f.stem.rsplit("_", 1)[1]) < cut else later) / f.name)
    warehouse = tmp_path / "w.duckdb"
    as_of = manifest["end"]

    run_cli(warehouse, "load", "dw-sync", str(first))
    # as of the end of the data with only part of the export loaded: allow the cohorts' data lag
    run_cli(warehouse, "build", "--as-of", as_of, "--max-data-lag-hours", "1000")
    orphans = {event_id for (event_id,) in query(warehouse, """
        select event_id from intermediate.int_customerio_dw__message_events where person_key is null""")}
    anon = query(warehouse, "select count(*) from marts.fct_message_deliveries where person_key like 'cio:anon-%'")
    run_cli(warehouse, "load", "dw-sync", str(later))
    run_cli(warehouse, "build", "--as-of", as_of)  # incremental
    incremental = _snapshot(warehouse)
    run_cli(warehouse, "build", "--as-of", as_of, "--full-refresh")
    full = _snapshot(warehouse)

    assert len(orphans) > 0  # the first part held metrics whose delivery was exported later
    assert anon[0][0] > 0  # and deliveries whose re-export (the known person) came later
    for table in SNAPSHOT:
        assert len(incremental[table]) == len(full[table]) > 0, table
        assert incremental[table] == full[table], table
    rebuilt = query(warehouse, f"""
        select count(*), count(person_key), count(channel), count(parent_type)
        from marts.fct_message_events where event_id in ({', '.join(f"'{e}'" for e in sorted(orphans))})""")
    assert rebuilt == [(len(orphans),) * 4]
    assert query(warehouse, "select count(*) from marts.fct_message_deliveries where person_key like 'cio:anon-%'") \
        == [(0,)]


def test_dw_sync_loads_and_builds_on_postgres_with_the_same_cohorts(postgres_database, dw_export, demo_data,
                                                                   built_warehouse, tmp_path):
    """The source through dlt's postgres destination (its warehouse look-ups included) and the
    models on dbt-postgres give the DuckDB webhook build's cohorts."""
    import dlt
    import psycopg2

    from msgmetrics.sources.customerio_dw_sync import DwSyncReadStats, customerio_dw_sync

    db, (data_dir, manifest) = postgres_database, demo_data
    credentials = f"postgresql://{db['user']}:{db['password']}@{db['host']}:{db['port']}/{db['dbname']}"
    half = tmp_path / "half"
    half.mkdir()
    for f in sorted(dw_export.glob("metrics_*.parquet"))[:5]:
        shutil.copy(f, half / f.name)
    for name, dataset, location in (("pg_dw_first", "raw_customerio_dw", half),
                                    ("pg_dw_all", "raw_customerio_dw", dw_export),
                                    ("pg_orders", "raw_shop", data_dir / "orders")):
        pipeline = dlt.pipeline(pipeline_name=f"pg_dw_{db['dbname']}" if "dw" in name else f"{name}_{db['dbname']}",
                                dataset_name=dataset, destination=dlt.destinations.postgres(credentials),
                                pipelines_dir=str(tmp_path / "pipelines"))
        if dataset == "raw_shop":
            from msgmetrics.sources.orders import shop_orders

            pipeline.run(shop_orders([str(location)]), loader_file_format="parquet")
            continue
        stats = DwSyncReadStats()
        # the second load re-reads the first files: their rows are not newer than the warehouse's
        pipeline.run(customerio_dw_sync([str(location)], reread=True, stats=stats), loader_file_format="parquet")
    assert stats.superseded > 0  # the warehouse look-up on PostgreSQL found the re-read rows

    (tmp_path / "profiles.yml").write_text(f"""
msgmetrics:
  target: postgres
  outputs:
    postgres:
      type: postgres
      host: {db['host']}
      port: {db['port']}
      user: {db['user']}
      password: "{db['password']}"
      dbname: {db['dbname']}
      schema: public
      threads: 2
""")
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "build", "--project-dir", str(REPO), "--profiles-dir", str(tmp_path),
         "--target-path", str(tmp_path / "target"), "--vars", f'{{as_of: "{manifest["end"]}"}}'],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    con = psycopg2.connect(**db)
    cur = con.cursor()
    cur.execute(COHORTS)
    on_postgres = set(cur.fetchall())
    con.close()
    assert on_postgres == _rows(built_warehouse, COHORTS) and len(on_postgres) > 0
