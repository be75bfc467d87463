"""Run dbt (in-process) on the msgmetrics project against the warehouse."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .settings import PROFILES_DIR, PROJECT_DIR, Warehouse
from .writer_lock import writer_lock


class BuildFailed(RuntimeError):
    pass


@dataclass
class BuildResult:
    invocation_id: str | None
    as_of: str | None
    counts: dict[str, int] = field(default_factory=dict)  # status -> number of nodes


def normalize_as_of(value: str | None) -> str | None:
    """ISO-8601 (offset or Z optional, UTC assumed) -> 'YYYY-MM-DDTHH:MM:SSZ'; clear error otherwise."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BuildFailed(
            f"--as-of {value!r} is not an ISO-8601 time; use e.g. 2026-11-01 or 2026-11-01T06:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt_args(command: str, warehouse: Warehouse, extra: list[str] | None = None, vars: dict | None = None) -> list[str]:
    args = [command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR)]
    if vars:
        args += ["--vars", json.dumps(vars)]
    return args + (extra or [])


def run_dbt(warehouse: Warehouse, args: list[str]):
    """Invoke dbt in this process with the warehouse path in its environment."""
    from dbt.cli.main import dbtRunner  # imported late: dbt is slow to import

    os.environ["MSGMETRICS_WAREHOUSE"] = str(warehouse.path)
    warehouse.ensure_parent()
    return dbtRunner().invoke(args)


def build(
    warehouse: Warehouse,
    as_of: str | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    vars: dict | None = None,
) -> BuildResult:
    """`dbt build` the whole project (or a selection) for `as_of` (default: now)."""
    as_of = normalize_as_of(as_of)
    extra = ["--full-refresh"] if full_refresh else []
    if select:
        extra += ["--select", select]
    all_vars = {**(vars or {}), **({"as_of": as_of} if as_of else {})}
    with writer_lock(warehouse, "build"):
        result = run_dbt(warehouse, dbt_args("build", warehouse, extra, all_vars))
    counts: dict[str, int] = {}
    failures = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(node_result.status)
        counts[status] = counts.get(status, 0) + 1
        if status in ("error", "fail"):
            failures.append(f"{node_result.node.name}: {node_result.message}")
            if "data_fresh_for_as_of" in node_result.node.name:
                failures.append("  the newest event is older than var cohort_max_data_lag_hours before as_of, so the "
                                "cohorts (suppressions included) would be stale and were not refreshed: load the "
                                "latest webhooks, or pass --max-data-lag-hours for a backfill or a what-if as_of")
    from dbt_common.invocation import get_invocation_id  # the id dbt wrote into its logs and artifacts

    invocation_id = get_invocation_id()
    if not result.success:
        detail = "\n  ".join(failures) if failures else str(result.exception)
        raise BuildFailed(
            "dbt build failed:\n  " + detail + "\nSee the dbt output above (logs/dbt.log in the project) "
            "for the failing models and tests."
        )
    return BuildResult(invocation_id=invocation_id, as_of=as_of, counts=counts)
