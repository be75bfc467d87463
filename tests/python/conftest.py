"""Shared fixtures: one small generated data set, loaded and built once per session
through the real CLI; tests that write get their own copy of the warehouse file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from msgmetrics.generate import generate

REPO = Path(__file__).resolve().parents[2]
SEED = 11
PEOPLE = 400
DAYS = 30
BAD_LINES = 4


def run_cli(warehouse: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `msgmetrics --warehouse W ...` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    for name in ("AMPLITUDE_API_KEY", "AMPLITUDE_INGEST_URL", "MSGMETRICS_WAREHOUSE"):
        if env is None or name not in env:
            full_env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "msgmetrics.cli", "--warehouse", str(warehouse), *args],
        cwd=REPO, env=full_env, capture_output=True, text=True, timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"msgmetrics {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo_data")
    manifest = generate(out, people=PEOPLE, days=DAYS, seed=SEED, bad_lines=BAD_LINES)
    return out, manifest


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory, demo_data) -> Path:
    """Loaded and built as of the end of the demo data. Do not write to it: copy it."""
    data_dir, manifest = demo_data
    warehouse = tmp_path_factory.mktemp("built") / "msgmetrics.duckdb"
    run_cli(warehouse, "load", "webhooks", str(data_dir / "webhooks"))
    run_cli(warehouse, "load", "orders", str(data_dir / "orders"))
    proc = run_cli(warehouse, "build", "--as-of", manifest["end"])
    assert "error" not in proc.stdout.split("build:")[-1], proc.stdout
    return warehouse


@pytest.fixture
def warehouse(built_warehouse, tmp_path) -> Path:
    """A private copy of the built warehouse (with dlt's local state beside it)."""
    target = tmp_path / "msgmetrics.duckdb"
    shutil.copy(built_warehouse, target)
    pipelines = built_warehouse.parent / ".dlt_pipelines"
    if pipelines.exists():
        shutil.copytree(pipelines, tmp_path / ".dlt_pipelines")
    return target


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def single_source_demos(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """`msgmetrics demo --source api` and `--source dw-sync` (200 people, 30 days): warehouses fed
    by the App API only or by Data Warehouse Sync only (plus App API names and orders), pushed to
    the demo's local fake Amplitude. source -> (warehouse, manifest). Do not write to them: copy."""
    import json

    out = {}
    for source in ("api", "dw-sync"):
        root = tmp_path_factory.mktemp(f"demo_{source.replace('-', '_')}")
        run_cli(root / "msgmetrics.duckdb", "demo", "--source", source, "--people", "200", "--days", "30",
                "--out", str(root / "data"))
        out[source] = (root / "msgmetrics.duckdb", json.loads((root / "data" / "manifest.json").read_text()))
    return out
