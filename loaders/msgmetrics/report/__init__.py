"""`msgmetrics report`: one static, self-contained HTML page about the warehouse.

    from msgmetrics.report import build_report
    build_report(Path("warehouse/msgmetrics.duckdb"), Path("warehouse/report.html"))

The warehouse is opened read-only (no writer lock needed) and closed before the page is
drawn. The page has inline SVG charts and CSS and one small inline script that only checks the
charts drew; it makes no network requests and opens offline. Sections whose table is missing or
empty say which command fills them instead of failing.

DuckDB refuses a read-only open while another process holds the file for writing (a running
load, build or push); that raises ``WarehouseBusy`` with a message saying so.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from .. import __version__
from ..environments import DEFAULT as DEFAULT_ENVIRONMENT
from ..environments import EnvironmentConfigError, resolve
from ..writer_lock import WarehouseBusy
from . import queries, render

__all__ = ["build_report", "collect", "default_environment", "DEFAULT_AMBER_AFTER", "DEFAULT_RED_AFTER",
           "WarehouseBusy"]

log = logging.getLogger(__name__)

DEFAULT_AMBER_AFTER = timedelta(hours=24)
DEFAULT_RED_AFTER = timedelta(hours=72)


def _connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise FileNotFoundError(
            f"no warehouse at {path}: load and build first (msgmetrics load webhooks PATH; msgmetrics build), "
            "or try msgmetrics demo")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
            raise WarehouseBusy(
                f"cannot read {path}: another process is writing it (DuckDB refuses a read-only open while a "
                f"writer holds the file). Run the report when the load/build/push has finished. ({exc})"
            ) from None
        raise RuntimeError(f"cannot open {path} as a DuckDB warehouse: {exc}") from exc


def default_environment(environ=os.environ) -> str:
    """The environment `msgmetrics push` would use: --env, else $MSGMETRICS_ENVIRONMENT, else the
    config file's default_environment, else `default`. The report only filters the ledger by the
    name, so it needs neither the file's secrets nor a valid file."""
    try:
        return resolve(None, environ).name
    except EnvironmentConfigError as exc:
        fallback = environ.get("MSGMETRICS_ENVIRONMENT") or DEFAULT_ENVIRONMENT
        log.warning("report: %s; showing the ledger of environment '%s'", exc, fallback)
        return fallback


def collect(con, *, runs_limit: int = 20, changes_days: int = 90, environment: str = DEFAULT_ENVIRONMENT) -> dict:
    """Run every section's queries; a failing query is kept as its exception, not raised."""
    jobs = {
        "cohort_sizes": lambda: queries.cohort_sizes(con),
        "cohort_history": lambda: queries.cohort_history(con),
        "audiences": lambda: queries.audiences(con),
        "property_changes": lambda: queries.property_changes(con, changes_days, environment),
        "ledger_environments": lambda: queries.ledger_environments(con),
        "funnel_channel": lambda: queries.funnel(con, "channel"),
        "funnel_intent": lambda: queries.funnel(con, "intent"),
        "funnel_matrix": lambda: queries.funnel_matrix(con),
        "funnel_parent_type": lambda: queries.funnel(con, "parent_type"),
        "messages_without_intent": lambda: queries.messages_without_intent(con),
        "machine_vs_human": lambda: queries.machine_vs_human(con),
        "identity_coverage": lambda: queries.identity_coverage(con),
        "sources": lambda: queries.sources(con),
        "freshness": lambda: queries.freshness(con),
        "runs": lambda: queries.runs(con, runs_limit, environment),
        "pushes": lambda: queries.pushes(con, environment, runs_limit),
        "daily_volume": lambda: queries.daily_volume(con),
    }
    data = {}
    for key, job in jobs.items():
        try:
            data[key] = job()
        except duckdb.Error as exc:
            log.warning("report query %s failed: %s", key, exc)
            data[key] = exc
    return data


def build_report(warehouse_path: Path, out_file: Path, *, now: datetime | None = None,
                 amber_after: timedelta = DEFAULT_AMBER_AFTER, red_after: timedelta = DEFAULT_RED_AFTER,
                 runs_limit: int = 20, environment: str | None = None) -> Path:
    """Write the HTML report for the DuckDB file at ``warehouse_path`` to ``out_file``; return its path.

    ``now`` (UTC; default the current time) is what freshness ages are measured against;
    ``amber_after`` / ``red_after`` are the freshness thresholds (default 24 h and 72 h);
    ``environment`` is the Amplitude environment whose ledger the push charts show (default: the
    one `msgmetrics push` would use, see ``default_environment``).
    """
    warehouse_path = Path(warehouse_path).expanduser().resolve()
    out_file = Path(out_file).expanduser()
    if now is None:
        now = datetime.now(timezone.utc)
    now = queries.utc_naive(now)
    if red_after < amber_after:
        raise ValueError(f"red_after ({red_after}) must not be shorter than amber_after ({amber_after})")

    environment = environment or default_environment()
    con = _connect_read_only(warehouse_path)
    try:
        data = collect(con, runs_limit=runs_limit, environment=environment)
    finally:
        con.close()  # a read-only connection blocks writers too: hold it only while querying

    opts = render.Options(now=now, amber_after=amber_after, red_after=red_after, runs_limit=runs_limit,
                          environment=environment)
    html = render.page(str(warehouse_path), data, opts, __version__)

    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_file.name}.", suffix=".tmp", dir=out_file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_file)  # readers never see half a page
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_file.resolve()
