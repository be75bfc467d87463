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


def _dbt_test(warehouse: Path, tmp_path: Path, select: str) -> dict[str, tuple[str, int]]:
    """`dbt test --select ...` on the warehouse: test name -> (status, failures)."""
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "test", "--project-dir", str(REPO), "--profiles-dir", str(PROFILE_DIR),
         "--target-path", str(tmp_path / "target"), "--select", select],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MSGMETRICS_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
             "DBT_LOG_PATH": str(tmp_path / "logs")},
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

    outcome = _dbt_test(warehouse, tmp_path,
                        "unique_fct_message_events_event_id "
                        "int_messaging__delivery_days,test_name:unique_combination "
                        "unique_fct_message_deliveries_delivery_id")

    assert duplicated_days >= 2
    assert outcome["unique_fct_message_events_event_id"] == ("fail", 1)
    [combination] = [name for name in outcome if name.startswith("msgmetrics_unique_combination_int_messaging")]
    assert outcome[combination] == ("fail", duplicated_days)
    assert outcome["unique_fct_message_deliveries_delivery_id"] == ("pass", 0)
