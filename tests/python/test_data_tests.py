"""The project's own implementations of dbt's data tests fail on exactly the rows dbt's would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from conftest import REPO

PROFILE_DIR = REPO / "loaders" / "msgmetrics" / "dbt_profile"
EVENTS_UNIQUE = "incremental_unique_fct_message_events_event_id__group_loaded_at"
DELIVERIES_UNIQUE = "incremental_unique_fct_message_deliveries_delivery_id__last_loaded_at"
DAYS_UNIQUE = ("msgmetrics_unique_combination_int_messaging__delivery_days_delivery_id__metric_date__channel__"
               "parent_type__parent_id__action_id__last_loaded_at")
STG_NOT_NULL = "incremental_not_null_stg_customerio__message_events_event_id__loaded_at"


def _dbt_test(warehouse: Path, tmp_path: Path, select: str, env: dict | None = None) -> dict[str, tuple[str, int]]:
    """`dbt test --select ...` on the warehouse: test name -> (status, failures)."""
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "test", "--project-dir", str(REPO), "--profiles-dir", str(PROFILE_DIR),
         "--target-path", str(tmp_path / "target"), "--select", select],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MSGMETRICS_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
             "DBT_LOG_PATH": str(tmp_path / "logs"), **(env or {})},
    )
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert results, proc.stdout[-3000:]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}


def test_unique_tests_fail_on_each_duplicated_value_and_ignore_nulls(warehouse, tmp_path):
    con = duckdb.connect(str(warehouse))
    # one event twice, and two events without an id (unique ignores nulls, as dbt's does)
    con.execute("insert into marts.fct_message_events select * from marts.fct_message_events "
                "where event_id = (select min(event_id) from marts.fct_message_events)")
    con.execute("insert into marts.fct_message_events select * replace (null as event_id) "
                "from marts.fct_message_events using sample 2 rows")
    # every delivery-day of two deliveries three times: one failing row per repeated combination
    con.execute("""insert into intermediate.int_messaging__delivery_days
                   select d.* from intermediate.int_messaging__delivery_days d,
                       (select 1 union all select 2) copies(n)
                   where d.delivery_id in (select delivery_id from intermediate.int_messaging__delivery_days
                                           order by delivery_id limit 2)""")
    duplicated_days = con.execute("""select count(*) from (select 1 from intermediate.int_messaging__delivery_days
        group by delivery_id, metric_date, channel, parent_type, parent_id, action_id having count(*) > 1)""").fetchone()[0]
    con.close()

    outcome = _dbt_test(warehouse, tmp_path, f"{EVENTS_UNIQUE} int_messaging__delivery_days,test_name:unique_combination "
                                             f"{DELIVERIES_UNIQUE}")

    assert duplicated_days >= 2
    assert outcome[EVENTS_UNIQUE] == ("fail", 1)
    assert outcome[DAYS_UNIQUE] == ("fail", duplicated_days)
    assert outcome[DELIVERIES_UNIQUE] == ("pass", 0)


def test_incremental_tests_check_the_rows_loaded_after_the_last_check_against_the_whole_table(warehouse, tmp_path):
    """With MSGMETRICS_CHECKED_AFTER (set by an incremental `msgmetrics build`), a duplicate is
    found when one of its rows was loaded after that time, whatever the other's; two rows that
    were both there at the last check are left to it. Without it, the whole table."""
    con = duckdb.connect(str(warehouse))
    checked, = con.execute("select max(group_loaded_at) from marts.fct_message_events").fetchone()
    later = "(select max(group_loaded_at) + interval 1 hour from marts.fct_message_events)"
    # events: A copied as it was (both rows old), B copied as if loaded after the check
    a, b = [r[0] for r in con.execute("select event_id from marts.fct_message_events order by event_id limit 2").fetchall()]
    con.execute("insert into marts.fct_message_events select * from marts.fct_message_events where event_id = ?", [a])
    con.execute(f"insert into marts.fct_message_events select * replace ({later} as group_loaded_at) "
                "from marts.fct_message_events where event_id = ?", [b])
    # deliveries and their days: the first delivery's rows copied old, the second's new
    d1, d2 = [r[0] for r in con.execute("select delivery_id from marts.fct_message_deliveries order by 1 limit 2").fetchall()]
    for table in ("marts.fct_message_deliveries", "intermediate.int_messaging__delivery_days"):
        con.execute(f"insert into {table} select * from {table} where delivery_id = ?", [d1])
        con.execute(f"insert into {table} select * replace ({later} as last_loaded_at) from {table} "
                    "where delivery_id = ?", [d2])
    old_days, new_days = [con.execute("select count(*) / 2 from intermediate.int_messaging__delivery_days "
                                      "where delivery_id = ?", [d]).fetchone()[0] for d in (d1, d2)]
    # staging: an event without an id loaded after the check, one from before it
    con.execute("""insert into staging.stg_customerio__message_events
                   select * replace (null as event_id, loaded_at + interval 1 hour as loaded_at)
                   from staging.stg_customerio__message_events where loaded_at = (select max(loaded_at)
                       from staging.stg_customerio__message_events) limit 1""")
    con.execute("""insert into staging.stg_customerio__message_events select * replace (null as event_id)
                   from staging.stg_customerio__message_events limit 1""")
    con.close()
    select = f"{EVENTS_UNIQUE} {DELIVERIES_UNIQUE} {DAYS_UNIQUE} {STG_NOT_NULL}"

    scoped = _dbt_test(warehouse, tmp_path, select,
                       env={"MSGMETRICS_CHECKED_AFTER": checked.strftime("%Y-%m-%d %H:%M:%S.%f")})
    assert scoped == {EVENTS_UNIQUE: ("fail", 1), DELIVERIES_UNIQUE: ("fail", 1), DAYS_UNIQUE: ("fail", new_days),
                      STG_NOT_NULL: ("fail", 1)}
    whole = _dbt_test(warehouse, tmp_path, select)
    assert whole == {EVENTS_UNIQUE: ("fail", 2), DELIVERIES_UNIQUE: ("fail", 2), DAYS_UNIQUE: ("fail", old_days + new_days),
                     STG_NOT_NULL: ("fail", 2)}
    wrong = _dbt_test(warehouse, tmp_path, EVENTS_UNIQUE, env={"MSGMETRICS_CHECKED_AFTER": "yesterday"})
    assert wrong[EVENTS_UNIQUE][0] == "error"
