"""The DuckDB settings of the profile the CLI gives dbt, and what a dbt invocation leaves open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import REPO

SETTINGS_SQL = ("select current_setting('memory_limit') as memory_limit, "
                "current_setting('block_allocator_memory') as block_allocator_memory")

# runs dbt in its own process (dbt keeps global state), then asks a second process to write
INVOKE_THEN_WRITE = textwrap.dedent(f"""
    import json, subprocess, sys
    from msgmetrics.build import dbt_args, run_dbt
    from msgmetrics.settings import Warehouse
    warehouse = Warehouse.resolve(sys.argv[1])
    result = run_dbt(warehouse, dbt_args("show", warehouse, ["--inline", {SETTINGS_SQL!r}]))
    assert result.success, result.exception
    writer = subprocess.run([sys.executable, "-c",
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute('create table written (x int)'); con.close()",
        str(warehouse.path)], capture_output=True, text=True)
    print(json.dumps({{"settings": list(result.result.results[0].agate_table.rows[0]),
                      "writer_exit": writer.returncode, "writer_error": writer.stderr[-300:]}}))
""")


def test_dbt_gets_a_block_allocator_within_its_memory_limit_and_releases_the_warehouse(tmp_path):
    proc = subprocess.run([sys.executable, "-c", INVOKE_THEN_WRITE, str(tmp_path / "w.duckdb")], cwd=REPO,
                          env={**os.environ, "MSGMETRICS_DUCKDB_MEMORY_LIMIT": "1GB"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    # memory_limit from the environment; the block allocator keeps 40 % of it (DuckDB's "1GB" is 10^9 bytes)
    assert outcome["settings"] == ["953.6 MiB", "381.4 MiB"]
    # once the invocation returned, another process can open the warehouse and write to it
    assert (outcome["writer_exit"], outcome["writer_error"]) == (0, "")
