"""The same dbt project on PostgreSQL: raw tables loaded by dlt's postgres destination,
marts built by dbt-postgres, cohorts identical to the DuckDB build.

CI (.ci/run) starts a private PostgreSQL and sets MSGMETRICS_TEST_POSTGRES; without it the
test fails under CI and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO, query

PG_URL = os.environ.get("MSGMETRICS_TEST_POSTGRES")  # postgresql://user@host:port/db


@pytest.fixture
def postgres_database():
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("MSGMETRICS_TEST_POSTGRES is not set: .ci/run must start PostgreSQL")
        pytest.skip("set MSGMETRICS_TEST_POSTGRES=postgresql://user@127.0.0.1:5433/postgres to run")
    import psycopg2
    from urllib.parse import urlparse

    name = f"msgmetrics_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    parsed = urlparse(PG_URL)
    yield {"host": parsed.hostname, "port": parsed.port or 5432, "user": parsed.username,
           "password": parsed.password or "", "dbname": name}
    admin.cursor().execute(f"drop database {name} with (force)")
    admin.close()


def _load_with_dlt(db: dict, data_dir: Path) -> None:
    import dlt

    from msgmetrics.sources.customerio_webhooks import customerio_webhooks
    from msgmetrics.sources.orders import shop_orders

    credentials = f"postgresql://{db['user']}:{db['password']}@{db['host']}:{db['port']}/{db['dbname']}"
    for name, dataset, source in (
        ("pg_webhooks", "raw_customerio", customerio_webhooks([str(data_dir / "webhooks")])),
        ("pg_orders", "raw_shop", shop_orders([str(data_dir / "orders")])),
    ):
        pipeline = dlt.pipeline(pipeline_name=f"{name}_{db['dbname']}", dataset_name=dataset,
                                destination=dlt.destinations.postgres(credentials),
                                pipelines_dir=str(data_dir.parent / f"pipelines_{db['dbname']}"))
        pipeline.run(source)


def test_the_project_builds_on_postgres_with_the_same_cohorts(postgres_database, demo_data, built_warehouse, tmp_path):
    data_dir, manifest = demo_data
    db = postgres_database
    _load_with_dlt(db, data_dir)
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

    import psycopg2

    con = psycopg2.connect(**{k: v for k, v in db.items()})
    cur = con.cursor()
    cur.execute("select cohort_name, person_key, amplitude_user_id from marts.cohort_membership order by 1, 2")
    on_postgres = cur.fetchall()
    cur.execute("select count(*), count(distinct event_id) from marts.fct_message_events")
    pg_events = cur.fetchone()
    con.close()
    on_duckdb = query(built_warehouse, "select cohort_name, person_key, amplitude_user_id from marts.cohort_membership order by 1, 2")
    assert on_postgres == on_duckdb and len(on_postgres) > 0
    assert pg_events == tuple(query(built_warehouse, "select count(*), count(distinct event_id) from marts.fct_message_events")[0])

    # the incremental builds' key tests, scoped to the rows loaded after a time (all rows here): their
    # portable SQL runs on PostgreSQL and finds no duplicate
    scoped = ["incremental_unique_fct_message_events_event_id__group_loaded_at",
              "incremental_not_null_stg_customerio__message_events_event_id__loaded_at",
              "msgmetrics_unique_combination_int_messaging__delivery_days_delivery_id__metric_date__channel__"
              "parent_type__parent_id__action_id__last_loaded_at"]
    proc = subprocess.run(
        [str(dbt), "test", "--project-dir", str(REPO), "--profiles-dir", str(tmp_path), "--target-path",
         str(tmp_path / "target"), "--select", *scoped],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "MSGMETRICS_CHECKED_AFTER": "2000-01-01 00:00:00"},
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].split(".")[2] for r in results if r["status"] == "pass") == sorted(scoped)
    [days_sql] = [r["compiled_code"] for r in results if r["unique_id"].split(".")[2] == scoped[2]]
    assert "last_loaded_at > cast('2000-01-01 00:00:00' as timestamp" in days_sql and "is not distinct from" in days_sql

    # the incremental cohort history on PostgreSQL: 8 days later (no new data) the 7-day clickers have left
    later = (datetime.fromisoformat(manifest["end"]) + timedelta(days=8)).isoformat()
    proc = subprocess.run(
        [str(dbt), "build", "--project-dir", str(REPO), "--profiles-dir", str(tmp_path), "--target-path",
         str(tmp_path / "target"), "--select", "intermediate.cohorts+", "--vars",
         json.dumps({"as_of": later, "cohort_max_data_lag_hours": 1000})],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    con = psycopg2.connect(**{k: v for k, v in db.items()})
    cur = con.cursor()
    cur.execute("""select count(*) filter (where exited_at is not null), count(*) filter (where exited_at is null)
                   from marts.cohort_membership_history where cohort_name = 'high_intent_engagers'""")
    exited, still_in = cur.fetchone()
    cur.execute("select count(*) from marts.cohort_membership where cohort_name = 'high_intent_engagers'")
    (members_now,) = cur.fetchone()
    cur.execute("select count(distinct day) from marts.cohort_sizes_daily")
    (days,) = cur.fetchone()
    con.close()
    engagers_then = sum(1 for c, _, _ in on_duckdb if c == "high_intent_engagers")
    assert (exited, still_in, members_now, days) == (engagers_then, 0, 0, 2)


def test_unit_test_and_model_names_fit_postgres_identifiers():
    """dbt names a relation after each model and unit test; PostgreSQL cuts identifiers at 63
    characters and dbt-postgres refuses longer ones, so a long name fails only on PostgreSQL."""
    import yaml

    names = [p.stem for p in (REPO / "models").rglob("*.sql")]
    for path in (REPO / "models").rglob("*.yml"):
        names += [t["name"] for t in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])]
    assert len(names) > 80
    assert [n for n in names if len(n) > 63] == []
