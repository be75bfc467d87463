"""The `msgmetrics` command line: generate, load (webhooks, orders, dw-sync), build, push, run, demo,
status, doctor, test-send, docs, report, fake-amplitude, serve-webhooks."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import click

from . import runs, settings
from .receiver import settings as receiver_settings


EXIT_FATAL = 1  # push also exits 2 when some records were dead-lettered (PushResult.exit_code)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("dlt", "urllib3", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(EXIT_FATAL)


class _Errors(click.Group):
    """Known errors become one clear line and exit 1, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own flow (--help, usage errors); Exit is a RuntimeError
        except Exception as exc:
            # imported only now: the Amplitude client alone costs ~0.7 s at start-up
            from .amplitude import AmplitudeError
            from .build import BuildFailed
            from .writer_lock import WarehouseBusy
            from dlt.pipeline.exceptions import PipelineStepFailed

            if isinstance(exc, PipelineStepFailed):
                root = exc
                while root.__cause__ is not None:
                    root = root.__cause__
                from .sources.customerio_api.client import AppApiError

                if isinstance(root, AppApiError):
                    _fail(str(root))  # says what to do; nothing of the failed load was written
                _fail(f"loading failed at dlt step '{exc.step}': {root}. Fix the cause and run the load again: "
                      "pending work is resumed, nothing is loaded twice.")
            if isinstance(exc, (AmplitudeError, BuildFailed, WarehouseBusy, FileNotFoundError, RuntimeError)):
                _fail(str(exc))
            raise


@click.group(cls=_Errors)
@click.option(
    "--warehouse",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB file (default $MSGMETRICS_WAREHOUSE or warehouse/msgmetrics.duckdb).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, warehouse: str | None, verbose: bool) -> None:
    """msgmetrics: Customer.io message activity -> DuckDB -> dbt cohorts -> Amplitude."""
    _setup_logging(verbose)
    ctx.obj = settings.Warehouse.resolve(warehouse)


def _environment_options(command):
    """--env and --allow-protected, shared by push and run."""
    command = click.option("--allow-protected", is_flag=True,
                           help="Allow pushing to an environment marked protected (e.g. production).")(command)
    return click.option("--env", default=None,
                        help="Amplitude environment from msgmetrics.yml (default: $MSGMETRICS_ENVIRONMENT "
                             "or the file's default_environment).")(command)


def _demo_data_options(command):
    """--people, --days, --seed and --out, shared by generate and demo."""
    for option in reversed([
        click.option("--people", type=click.IntRange(min=1), default=2000, show_default=True),
        click.option("--days", type=click.IntRange(min=1), default=60, show_default=True),
        click.option("--seed", type=int, default=7, show_default=True),
        click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo_data", show_default=True),
    ]):
        command = option(command)
    return command


def _records_run(command_name: str):
    """Record the command in msgmetrics_ledger.runs; the function gets the RunRecord to fill."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(warehouse, *args, **kwargs):
            with runs.recorded(warehouse, command_name) as run:
                return function(warehouse, run, *args, **kwargs)

        return wrapper

    return decorate


# ---------------------------------------------------------------- generate
@main.command()
@_demo_data_options
@click.option("--end", default=None, help="End of the simulated period (ISO-8601, UTC). Default 2026-11-01.")
@click.option("--bad-lines", type=click.IntRange(min=0), default=0, show_default=True,
              help="Malformed webhook lines to add, to see the quarantine at work.")
def generate(people: int, days: int, seed: int, out_dir: str, end: str | None, bad_lines: int) -> None:
    """Write deterministic demo data: webhook JSONL files, orders, catalog."""
    manifest = _generate(people, days, seed, out_dir, end, bad_lines)
    click.echo(
        f"wrote {manifest['events_written']:,} webhook events ({manifest['distinct_event_ids']:,} distinct, "
        f"{manifest['bad_lines']} malformed lines) and {manifest['orders']:,} orders to {out_dir} "
        f"for {manifest['start']} .. {manifest['end']}"
    )


def _generate(people, days, seed, out_dir, end, bad_lines) -> dict:
    from .generate import DEFAULT_END, generate as run_generate

    end_at = datetime.fromisoformat(end) if end else DEFAULT_END
    click.echo(f"generating {people:,} people over {days} days (seed {seed}) ...", err=True)
    return run_generate(Path(out_dir), people=people, days=days, seed=seed, end=end_at, bad_lines=bad_lines)


# ---------------------------------------------------------------- load
@main.group()
def load() -> None:
    """Land raw data in the warehouse with dlt."""


@load.command("webhooks")
@click.argument("locations", nargs=-1, required=True)
@click.option("--reread", is_flag=True, help="Read files again even if unchanged since their last load.")
@click.pass_obj
@_records_run("load webhooks")
def load_webhooks_cmd(warehouse, run, locations: tuple[str, ...], reread: bool) -> None:
    """Load reporting-webhook JSONL files or folders (local paths or bucket URLs)."""
    _load_webhooks(warehouse, run, list(locations), reread)


def _record_load(run, table: str, result) -> None:
    run.load_ids += result.load_ids
    run.loaded[table] = {"rows_added": result.rows_added, "rows_total": result.rows_after,
                         "quarantined": result.stats.quarantined}


def _load_webhooks(warehouse, run, locations: list[str], reread: bool = False):
    from .load import load_webhooks

    result = load_webhooks(warehouse, locations, reread=reread)
    _record_load(run, "raw_customerio.webhook_events", result)
    if result.note:
        click.echo(f"webhooks: nothing to load: {result.note}")
        return result
    s = result.stats
    click.echo(
        f"webhooks: {s.files_read} file(s) read, {s.files_skipped} unchanged skipped; "
        f"{s.events_read:,} events read, {result.rows_added:,} new "
        f"({result.rows_after:,} in raw_customerio.webhook_events); "
        f"{s.unknown_events:,} with an unknown metric/object type (kept, flagged); "
        f"{s.quarantined:,} line(s) quarantined"
    )
    for reason, count in sorted(s.quarantine_reasons.items()):
        click.echo(f"  quarantined {count:,}: {reason}  (see raw_customerio.webhook_events_quarantine)")
    return result


@load.command("orders")
@click.argument("locations", nargs=-1, required=True)
@click.pass_obj
@_records_run("load orders")
def load_orders_cmd(warehouse, run, locations: tuple[str, ...]) -> None:
    """Load order files (JSONL or CSV) or folders."""
    _load_orders(warehouse, run, list(locations))


def _load_orders(warehouse, run, locations: list[str]):
    from .load import load_orders

    result = load_orders(warehouse, locations)
    _record_load(run, "raw_shop.orders", result)
    s = result.stats
    click.echo(
        f"orders: {s.files_read} file(s), {s.orders_read:,} orders read, {result.rows_added:,} new "
        f"({result.rows_after:,} in raw_shop.orders); {s.quarantined:,} row(s) quarantined"
        + (" (see raw_shop.orders_quarantine)" if s.quarantined else "")
    )
    return result


# ---------------------------------------------------------------- load api (Customer.io App API)
def _api_resources(text: str | None) -> tuple[str, ...] | None:
    from .sources.customerio_api.settings import ALL_RESOURCES, DEFAULT_RESOURCES, METADATA_RESOURCES

    if not text:
        return None
    chosen: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        group = {"metadata": METADATA_RESOURCES, "all": ALL_RESOURCES, "default": DEFAULT_RESOURCES}.get(name, (name,))
        for item in group:
            if item not in ALL_RESOURCES:
                raise click.BadParameter(f"unknown resource {item!r}; choose from {', '.join(ALL_RESOURCES)}, "
                                         "or metadata / default / all", param_hint="--resources")
            if item not in chosen:
                chosen.append(item)
    return tuple(chosen)


@load.command("api")
@click.option("--since", default=None,
              help="Read deliveries created since this time (ISO-8601, UTC). Default: the previous run's end "
                   "minus --reread-days; 180 days back on the first run. Older history is read in 180-day windows.")
@click.option("--until", default=None, help="Read deliveries created up to this time (ISO-8601; default now).")
@click.option("--resources", default=None,
              help="Comma-separated: messages, campaigns, campaign_actions, newsletters, newsletter_contents, "
                   "broadcasts, broadcast_actions, transactional_messages, activities; 'metadata' = the names "
                   "only. Default: messages and metadata.")
@click.option("--reread-days", type=click.IntRange(min=0), default=None,
              help="Re-read deliveries created this many days before the previous run's end (their opens and "
                   "clicks keep arriving). Default 7.")
@click.pass_obj
@_records_run("load api")
def load_api_cmd(warehouse, run, since, until, resources, reread_days) -> None:
    """Pull the Customer.io App API: deliveries with their metrics, and message names.

    Needs CUSTOMERIO_APP_API_KEY; CUSTOMERIO_REGION=eu for an EU workspace, CUSTOMERIO_API_URL to
    override the host. Stays under the App API's 10 requests/s.
    """
    _load_api(warehouse, run, resources=_api_resources(resources), since=since, until=until, reread_days=reread_days)


def _load_api(warehouse, run, api=None, resources=None, since=None, until=None, reread_days=None):
    from .load import ApiSettings, load_api
    from .sources.customerio_api.helpers import iso

    api = api or ApiSettings.from_env()
    result = load_api(warehouse, api, resources=resources, since=since, until=until, reread_days=reread_days)
    s = result.stats
    run.load_ids += result.load_ids
    for table, (before, after) in s.table_rows.items():
        run.loaded[f"raw_customerio_api.{table}"] = {
            "rows_added": after - before, "rows_total": after,
            "quarantined": s.quarantined if table == "messages" else 0}
    http = s.http
    parts = [f"api: {http.requests:,} requests in {http.elapsed_s:.1f} s ({http.requests_per_s:.1f}/s, "
             f"{http.throttled} throttled, {http.server_errors} retried)"]
    if "messages" in s.table_rows:
        span = f"created {iso(s.windows[0][0])} .. {iso(s.windows[-1][1])}" if s.windows else "nothing to read"
        parts.append(f"{s.deliveries_read:,} deliveries read in {s.pages:,} pages ({span}), "
                     f"{result.rows_added:,} new ({result.rows_after:,} in raw_customerio_api.messages)")
    if s.metadata_rows:
        parts.append("names: " + ", ".join(f"{n:,} {name}" for name, n in s.metadata_rows.items()))
    parts.append(f"{s.quarantined:,} quarantined")
    click.echo("; ".join(parts))
    for reason, count in sorted(s.quarantine_reasons.items()):
        click.echo(f"  quarantined {count:,}: {reason}  (see raw_customerio_api.*_quarantine)")
    return result


def _load_from_fake_api(warehouse, run, data_dir: Path, manifest: dict, messages: bool):
    """Load the generated data through a local fake App API: deliveries and names, or names only
    (what a set-up with webhooks plus an App API key gets)."""
    from .customerio_fake import FakeCustomerIo, derive_workspace
    from .load import ApiSettings
    from .sources.customerio_api.settings import DEFAULT_RESOURCES, METADATA_RESOURCES

    api_key = "msgmetrics-demo-cio-key"
    with FakeCustomerIo(derive_workspace(data_dir, include_messages=messages), api_key=api_key) as fake:
        click.echo(f"reading a local fake Customer.io App API at {fake.url} (not the real one)", err=True)
        return _load_api(warehouse, run, api=ApiSettings(api_key=api_key, api_url=fake.url),
                         resources=DEFAULT_RESOURCES if messages else METADATA_RESOURCES,
                         since=manifest["start"], until=manifest["end"])


# ---------------------------------------------------------------- load dw-sync (Data Warehouse Sync)
@load.command("dw-sync")
@click.argument("locations", nargs=-1, required=True)
@click.option("--reread", is_flag=True, help="Read files again even if unchanged since their last load.")
@click.pass_obj
@_records_run("load dw-sync")
def load_dw_sync_cmd(warehouse, run, locations: tuple[str, ...], reread: bool) -> None:
    """Load Customer.io Data Warehouse Sync Parquet files or folders (local paths or bucket URLs).

    Deliveries, metrics, people, subjects and outputs (content and attributes when present);
    only files new since the last load are read; the highest seq_num per key wins.
    """
    _load_dw_sync(warehouse, run, list(locations), reread)


def _load_dw_sync(warehouse, run, locations: list[str], reread: bool = False):
    from .load import load_dw_sync
    from .settings import RAW_DW_SYNC_DATASET

    result = load_dw_sync(warehouse, locations, reread=reread)
    s = result.stats
    run.load_ids += result.load_ids
    for table, read in sorted(s.rows_read.items()):
        run.loaded[f"{RAW_DW_SYNC_DATASET}.{table}"] = {
            "rows_added": result.rows_added(table), "rows_total": result.rows_after[table], "rows_read": read}
    run.loaded[f"{RAW_DW_SYNC_DATASET}.dw_sync_quarantine"] = {
        "rows_added": result.rows_added("dw_sync_quarantine"), "rows_total": result.rows_after["dw_sync_quarantine"],
        "quarantined": s.quarantined}
    tables = ", ".join(f"{t} {n:,} ({result.rows_added(t):,} new)" for t, n in sorted(s.rows_read.items())) or "no rows"
    click.echo(
        f"dw-sync: {s.files_read} file(s) read, {s.files_skipped} unchanged skipped, "
        f"{s.files_quarantined} skipped with a reason; rows read: {tables}; "
        f"{s.superseded:,} older version(s) ignored; {s.rows_quarantined:,} row(s) quarantined "
        f"(raw tables in {RAW_DW_SYNC_DATASET})"
    )
    for reason, count in sorted(s.quarantine_reasons.items()):
        click.echo(f"  quarantined {count:,}: {reason}  (see {RAW_DW_SYNC_DATASET}.dw_sync_quarantine)")
    return result


def _demo_load_dw_sync(warehouse, run, data_dir: Path):
    """The demo's input when --source dw-sync: derive the export from the generated webhooks, load it."""
    from .dw_sync_export import write_dw_sync_export

    export_dir = data_dir / "dw_sync"
    written = write_dw_sync_export(data_dir, export_dir)
    click.echo(f"wrote a Data Warehouse Sync export to {export_dir} ("
               + ", ".join(f"{t}: {w['rows']:,} rows in {w['files']} files" for t, w in written.items()) + ")")
    return _load_dw_sync(warehouse, run, [str(export_dir)])


# ---------------------------------------------------------------- build
@main.command()
@click.option("--as-of", default=None, envvar="MSGMETRICS_AS_OF", show_envvar=True,
              help="Compute cohorts as of this time (ISO-8601; default now).")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@click.option("--select", default=None, help="dbt selection, e.g. 'marts.cohorts+'.")
@click.option("--all", "everything", is_flag=True,
              help="Build every node. Default: only those downstream of what changed since the last build "
                   "(new loads, as_of; any change of code, seeds or vars builds everything).")
@click.option("--max-data-lag-hours", type=click.FloatRange(min=0), default=None,
              help="Fail the cohort freshness test when the newest event is older than this before as_of "
                   "(default: var cohort_max_data_lag_hours, 36). Raise it for a backfill or a what-if as_of.")
@click.option("--unit-tests/--no-unit-tests", "unit_tests", default=None,
              help="Run (or skip) dbt's unit tests, all of them, also when no model is to build. Default: run "
                   "them only when the project's code, the dbt version or the vars changed since they last "
                   "passed on this warehouse.")
@click.pass_obj
@_records_run("build")
def build(warehouse, run, as_of: str | None, full_refresh: bool, select: str | None, everything: bool,
          max_data_lag_hours: float | None, unit_tests: bool | None) -> None:
    """Run `dbt build` (models, seeds, data tests; unit tests when the code changed).

    Only the nodes downstream of what changed since the last successful build run: the sources
    with new loads, and the windowed models when as_of differs. --all builds every node.
    """
    _build(warehouse, run, as_of, full_refresh, select, max_data_lag_hours, unit_tests, everything)


def _build(warehouse, run, as_of=None, full_refresh=False, select=None, max_data_lag_hours=None, unit_tests=None,
           everything=False):
    from .build import build as run_build

    click.echo(f"building the marts{' as of ' + as_of if as_of else ''} (dbt build) ...", err=True)
    run.as_of = as_of
    dbt_vars = {} if max_data_lag_hours is None else {"cohort_max_data_lag_hours": max_data_lag_hours}
    result = run_build(warehouse, as_of=as_of, full_refresh=full_refresh, select=select, vars=dbt_vars,
                       unit_tests=unit_tests, everything=everything)
    run.dbt_invocation_id, run.dbt_results = result.invocation_id, result.counts
    if result.skipped_reason:
        click.echo(f"build: nothing to build ({result.skipped_reason}; --all builds anyway)")
        return result
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))
    click.echo(f"build: {counts}")
    return result


# ---------------------------------------------------------------- push
@main.command()
@click.option("--dry-run", is_flag=True, help="Compute the difference and write the payloads; send nothing.")
@click.option("--dry-run-dir", type=click.Path(file_okay=False), default=None,
              help="Where --dry-run writes events.jsonl, identify.jsonl and summary.json.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--full-replace", is_flag=True,
              help="Re-upload each Amplitude Behavioral Cohort whole instead of adding and removing members.")
@_environment_options
@click.pass_obj
@_records_run("push")
def push(warehouse, run, dry_run: bool, dry_run_dir: str | None, output: str, full_replace: bool,
         env: str | None, allow_protected: bool) -> None:
    """Send new events and cohort changes to Amplitude (configured by AMPLITUDE_* variables).

    Events go to HTTP V2 (or /batch for backfills), cohort flags to Identify ($set/$unset), and,
    when AMPLITUDE_SECRET_KEY, AMPLITUDE_APP_ID and AMPLITUDE_COHORT_OWNER are set, cohort
    membership to the Behavioral Cohorts API.

    Exit codes: 0 success, 1 fatal error (nothing more sent), 2 some records dead-lettered.
    """
    result = _push(warehouse, run, dry_run, dry_run_dir, output, full_replace=full_replace,
                   env=env, allow_protected=allow_protected)
    sys.exit(result.exit_code)


def _push(warehouse, run, dry_run=False, dry_run_dir=None, output="text", config=None, full_replace=False,
          env=None, allow_protected=False):
    from .environments import DEFAULT, EnvironmentConfigError, resolve
    from .push import push as run_push

    environment = resolve(env) if config is None else None
    name = environment.name if environment else DEFAULT
    if environment and environment.protected and not dry_run and not allow_protected:
        raise EnvironmentConfigError(
            f"environment '{name}' is protected: pass --allow-protected to push to it (or --dry-run to look first)")
    if not dry_run and config is None:
        config = environment.amplitude_config()
    result = run_push(warehouse, config=config, dry_run=dry_run, full_replace=full_replace, environment=name,
                      output_dir=Path(dry_run_dir) if dry_run_dir else None)
    run.push_run_id = result.run_id
    run.pushed = {key: value for key, value in result.to_dict().items() if key != "samples"}
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return result
    verb = "would send" if dry_run else "sent"
    click.echo(
        f"push to environment '{result.environment}' ({'dry run' if dry_run else result.target}): "
        f"{verb} {result.events_planned:,} events, "
        f"{result.property_sets_planned:,} cohort entries ($set) and {result.property_unsets_planned:,} "
        f"exits ($unset) in {result.identifications_planned:,} identify records"
    )
    for event_type, n in result.events_by_type.items():
        click.echo(f"  {event_type}: {n:,}")
    for op, counts in (("$set", result.sets_by_property), ("$unset", result.unsets_by_property)):
        for name, n in counts.items():
            sample = ", ".join(result.samples.get(f"{op} {name}", []))
            click.echo(f"  {op} {name}: {n:,}  (e.g. {sample})")
    api = "Behavioral Cohorts API" if result.cohorts_api else "Behavioral Cohorts API not configured"
    for name in sorted(set(result.cohort_adds_planned) | set(result.cohort_removes_planned)):
        adds, removes = result.cohort_adds_planned.get(name, 0), result.cohort_removes_planned.get(name, 0)
        if adds or removes:
            done = result.cohort_changes_accepted.get(name)
            click.echo(f"  cohort {name}: +{adds:,} / -{removes:,} members ({api})"
                       + (f"; accepted +{done['added']:,} / -{done['removed']:,}" if done else ""))
    if result.stale_resends:
        click.secho(f"  warning: {result.stale_resends:,} events are resends older than Amplitude's 7-day "
                    "insert_id window and may be stored twice", fg="yellow")
    if dry_run:
        click.echo(f"  payloads written to {result.output_dir}")
    else:
        click.echo(
            f"  accepted: {result.events_accepted:,} events, {result.identifications_accepted:,} identify records; "
            f"dead-lettered: {result.events_rejected + result.identifications_rejected:,}; retries: {result.retries}"
        )
    return result


# ---------------------------------------------------------------- run / demo
@main.command("run")
@click.option("--webhooks", "webhook_locations", multiple=True,
              help="Webhook JSONL file/folder/URL (e.g. serve-webhooks' --out folder). Repeatable.")
@click.option("--dw-sync", "dw_sync_locations", multiple=True,
              help="Data Warehouse Sync Parquet folder/URL. Repeatable.")
@click.option("--api", "pull_api", is_flag=True,
              help="Pull the Customer.io App API (CUSTOMERIO_APP_API_KEY): deliveries since the last pull "
                   "plus the re-read window, and the message names.")
@click.option("--orders", "order_locations", multiple=True, help="Orders file/folder/URL.")
@click.option("--as-of", default=None, envvar="MSGMETRICS_AS_OF", show_envvar=True,
              help="Compute cohorts as of this time (ISO-8601; default now).")
@click.option("--dry-run", is_flag=True, help="Do not send; write the payloads instead.")
@_environment_options
@click.pass_obj
@_records_run("run")
def run_cmd(warehouse, run, webhook_locations, dw_sync_locations, pull_api, order_locations, as_of, dry_run,
            env, allow_protected) -> None:
    """Load + build + push in one go (the scheduled job): any mix of webhooks, DW Sync and App API."""
    if not (webhook_locations or dw_sync_locations or pull_api):
        raise click.UsageError("give at least one Customer.io source: --webhooks PATH, --dw-sync PATH|URL or --api")
    if webhook_locations:
        _load_webhooks(warehouse, run, list(webhook_locations))
    if dw_sync_locations:
        _load_dw_sync(warehouse, run, list(dw_sync_locations))
    if pull_api:
        _load_api(warehouse, run)
    if order_locations:
        _load_orders(warehouse, run, list(order_locations))
    _build(warehouse, run, as_of)
    result = _push(warehouse, run, dry_run, env=env, allow_protected=allow_protected)
    _print_summary(warehouse)
    sys.exit(result.exit_code)


@main.command()
@_demo_data_options
@click.option("--dry-run", is_flag=True, help="Write the payloads instead of pushing to the local fake Amplitude.")
@click.option("--source", type=click.Choice(["webhooks", "dw-sync", "api"]), default="webhooks", show_default=True,
              help="Which Customer.io output the demo loads: the webhook files, a Data Warehouse Sync export "
                   "derived from them, or the App API (a local fake serving the same generated data). "
                   "Message names come from the fake App API's metadata whichever it is.")
@click.pass_obj
@_records_run("demo")
def demo(warehouse, run, people: int, days: int, seed: int, out_dir: str, dry_run: bool, source: str) -> None:
    """The whole path on demo data: generate, load, build as of the data's end, push to a local fake Amplitude."""
    manifest = _generate(people, days, seed, out_dir, None, bad_lines=3)
    click.echo(f"generated {manifest['events_written']:,} webhook events and {manifest['orders']:,} orders in {out_dir}")
    if source == "dw-sync":
        _demo_load_dw_sync(warehouse, run, Path(out_dir))
    elif source == "webhooks":
        _load_webhooks(warehouse, run, [str(Path(out_dir) / "webhooks")])
    # names (and, for --source api, the deliveries) from the fake App API, as a set-up with an App API key gets
    _load_from_fake_api(warehouse, run, Path(out_dir), manifest, messages=source == "api")
    _load_orders(warehouse, run, [str(Path(out_dir) / "orders")])
    _build(warehouse, run, manifest["end"])
    if dry_run:
        result = _push(warehouse, run, dry_run=True)
    else:
        result = _push_to_local_fake(warehouse, run)
    _print_summary(warehouse)
    sys.exit(result.exit_code)


def _push_to_local_fake(warehouse, run):
    from .amplitude import AmplitudeConfig
    from .amplitude.fake_server import FakeAmplitude

    api_key, secret_key, app_id = "msgmetrics-demo-key", "msgmetrics-demo-secret", 100001
    with FakeAmplitude(api_key=api_key, secret_key=secret_key, app_id=app_id) as fake:
        click.echo(f"pushing to a local fake Amplitude at {fake.url} (not the real one)", err=True)
        config = AmplitudeConfig(api_key=api_key, ingest_url=fake.url, secret_key=secret_key, api_url=fake.url,
                                 app_id=app_id, cohort_owner="demo@example.com")
        result = _push(warehouse, run, config=config)
        click.echo(
            f"  the fake Amplitude holds {fake.event_count:,} events, cohort flags for "
            f"{sum(1 for props in fake.user_properties.values() if props):,} users and "
            f"{len(fake.cohorts)} Behavioral Cohorts ("
            + ", ".join(f"{c['name']}: {len(c['members']):,}" for c in fake.cohorts.values()) + ")"
        )
    return result


def _print_summary(warehouse) -> None:
    from .summary import audience_sizes, cohort_sizes, identity_coverage

    click.echo("\ncohort sizes (marts.cohort_membership):")
    for cohort, members, pushable, pushed in cohort_sizes(warehouse):
        click.echo(f"  {cohort:<32} {members:>7,} people ({pushable:,} with an Amplitude user id)"
                   + ("" if pushed or not members else "; a building block, not pushed"))
    audiences = audience_sizes(warehouse)
    if audiences:
        click.echo("audiences (marts.audience_assignments):")
    for name, incentive, assigned, pushable, suppressed, outranked in audiences:
        click.echo(f"  audience {name:<26} {assigned:>7,} assigned ({pushable:,} with an Amplitude user id; "
                   f"{suppressed:,} suppressed, {outranked:,} outranked){' [incentive]' if incentive else ''}")
    for measure, resolved, total in identity_coverage(warehouse):
        share = resolved / total if total else 0
        click.echo(f"identity coverage: {resolved:,} of {total:,} {measure} resolve to an Amplitude user id ({share:.1%})")
    click.echo(f"warehouse: {warehouse.path}  (read it with duckdb.connect(path, read_only=True) while nothing writes)")


# ---------------------------------------------------------------- status
@main.command()
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def status(warehouse, limit: int, output: str) -> None:
    """The last runs: what was loaded, built and pushed, and errors (msgmetrics_ledger.runs)."""
    rows = runs.latest(warehouse, limit)
    if output == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no runs recorded in {warehouse.path} yet")
        return
    for row in rows:
        loaded = json.loads(row["loaded"] or "{}")
        built = json.loads(row["dbt_results"] or "{}")
        pushed = json.loads(row["pushed"] or "{}")
        parts = [f"{row['started_at']:%Y-%m-%d %H:%M:%S}", f"{row['command']:<13}", f"{row['status']:<8}"]
        if loaded:
            parts.append("loaded " + ", ".join(f"{t.split('.')[-1]} +{v['rows_added']:,}" for t, v in loaded.items()))
        if built:
            parts.append("built " + ", ".join(f"{n} {s}" for s, n in sorted(built.items()))
                         + (f" as of {row['as_of']}" if row["as_of"] else ""))
        if pushed:
            parts.append(f"pushed {pushed.get('events_accepted', 0):,} events, "
                         f"{pushed.get('identifications_accepted', 0):,} identify"
                         + (" (dry run)" if pushed.get("dry_run") else ""))
        if row["error"]:
            parts.append(f"error: {row['error']}")
        click.echo("  ".join(parts))


# ---------------------------------------------------------------- doctor
@main.command()
@click.option("--min-coverage", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Warn when fewer people or events than this resolve to an Amplitude id.")
@click.option("--max-lag-hours", type=float, default=24.0, show_default=True,
              help="Fail when the newest event is older than this (your refresh cadence).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--env", default=None, help="Amplitude environment from msgmetrics.yml to check.")
@click.pass_obj
def doctor(warehouse, min_coverage: float, max_lag_hours: float, output: str, env: str | None) -> None:
    """The operator's checklist: target, key, identity, events, cohorts, freshness.

    Exits 1 when a ✘ would make a push wrong, 0 otherwise (warnings included).
    """
    from dataclasses import asdict

    from .doctor import FAIL, run_checks

    checks = run_checks(warehouse, min_coverage=min_coverage, max_lag_hours=max_lag_hours, environment=env)
    if output == "json":
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            click.echo(check.line())
    sys.exit(1 if any(c.status == FAIL for c in checks) else 0)


# ---------------------------------------------------------------- test-send
@main.command("test-send")
@click.option("--user", "users", multiple=True, required=True,
              help="An internal profile's Amplitude user id (repeat, at most 10).")
@click.option("--env", default=None, help="Amplitude environment from msgmetrics.yml.")
@click.option("--allow-protected", is_flag=True, help="Allow a test send to a protected environment.")
@click.option("--verify-timeout", type=float, default=60.0, show_default=True)
def test_send(users: tuple[str, ...], env: str | None, allow_protected: bool, verify_timeout: float) -> None:
    """Send labelled test events and a test property for internal profiles, then verify they arrived."""
    from .environments import EnvironmentConfigError, resolve
    from .test_send import TEST_EVENT_TYPE, TEST_PROPERTY, send_test

    if len(users) > 10:
        raise click.BadParameter("at most 10 internal profiles per test send", param_hint="--user")
    environment = resolve(env)
    if environment.protected and not allow_protected:
        raise EnvironmentConfigError(f"environment '{environment.name}' is protected: pass --allow-protected")
    result = send_test(environment.amplitude_config(), list(users), verify_timeout_s=verify_timeout)
    click.echo(f"test-send to environment '{environment.name}': {result.accepted_events} '{TEST_EVENT_TYPE}' "
               f"events and {result.accepted_identifies} '{TEST_PROPERTY}' updates accepted")
    for line in result.rejected:
        click.echo(f"  rejected {line}")
    for user, seen in result.verified.items():
        click.echo(f"  {'✔' if seen else '✘'} {user}")
    click.echo(f"  {result.verification}")
    sys.exit(0 if not result.rejected and (result.ok or not result.verified) else 1)


# ---------------------------------------------------------------- docs
@main.command()
@click.pass_obj
def docs(warehouse) -> None:
    """Build the dbt docs site (models, columns, lineage) as one static HTML file."""
    from .build import run_dbt
    from .settings import PROFILES_DIR, PROJECT_DIR
    from .writer_lock import writer_lock

    target = warehouse.path.parent / "dbt_docs"
    with writer_lock(warehouse, "docs"):
        result = run_dbt(warehouse, ["docs", "generate", "--static", "--project-dir", str(PROJECT_DIR),
                                     "--profiles-dir", str(PROFILES_DIR), "--target-path", str(target)])
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    click.echo(f"dbt docs written to {target / 'static_index.html'} (one file; open it in a browser)")


# ---------------------------------------------------------------- report
@main.command()
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: report.html beside the warehouse).")
@click.option("--env", "env", default=None, metavar="NAME",
              help="Amplitude environment whose pushes the report shows (default: the one `push` would use: "
                   "$MSGMETRICS_ENVIRONMENT, else the config's default_environment, else `default`).")
@click.pass_obj
def report(warehouse, out_file: str | None, env: str | None) -> None:
    """Write one self-contained HTML report: cohorts, audiences, funnels by channel and intent,
    machine opens, identity coverage, sources and freshness, runs and pushes.

    Opens the warehouse read-only and takes no writer lock; DuckDB still refuses a read-only
    open while a load, build or push holds the file, so run it when they have finished.
    """
    from .report import build_report

    out = Path(out_file) if out_file else warehouse.path.parent / "report.html"
    written = build_report(warehouse.path, out, environment=env)
    click.echo(f"report written to {written} (one HTML file; opens offline in any browser)")


@main.command("fake-amplitude")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--api-key", default="msgmetrics-demo-key", show_default=True)
def fake_amplitude(port: int, api_key: str) -> None:
    """Run the strict local fake Amplitude (for trying `push` without a real project)."""
    from .amplitude.fake_server import FakeAmplitude

    with FakeAmplitude(api_key=api_key, port=port) as fake:
        click.echo(f"fake Amplitude listening at {fake.url} (api key {api_key}); Ctrl-C to stop")
        click.echo(f"  export AMPLITUDE_API_KEY={api_key} AMPLITUDE_INGEST_URL={fake.url}")
        with contextlib.suppress(KeyboardInterrupt):
            import time

            while True:
                time.sleep(3600)


# ---------------------------------------------------------------- serve-webhooks (webhook receiver)
@main.command("serve-webhooks")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for the JSONL files (`msgmetrics load webhooks` reads it).")
@click.option("--host", default=receiver_settings.DEFAULT_HOST, show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=receiver_settings.DEFAULT_PORT, show_default=True,
              help="0: any free port.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=receiver_settings.DEFAULT_MAX_BODY_BYTES,
              show_default=True, help="Larger bodies get 413 (the loader reads lines of up to 16 MiB).")
@click.option("--rotate-bytes", type=click.IntRange(min=1), default=receiver_settings.DEFAULT_ROTATE_BYTES,
              show_default=True, help="Finish the active file once it holds this many bytes.")
@click.option("--rotate-seconds", type=click.FloatRange(min=0.1), default=receiver_settings.DEFAULT_ROTATE_SECONDS,
              show_default=True, help="Finish the active file this long after its first line (latency until `load` sees it).")
@click.option("--replay-window", "replay_window_s", type=click.IntRange(min=1), default=receiver_settings.DEFAULT_REPLAY_WINDOW_S,
              show_default=True, help="Refuse (401) a X-CIO-Timestamp further than this many seconds from now, either way.")
@click.option("--answer-timeout", "answer_timeout_s", type=click.FloatRange(min=0.1), default=receiver_settings.DEFAULT_ANSWER_TIMEOUT_S,
              show_default=True, help="Answer 503 if a body is not durable by then (Customer.io waits 4 s).")
@click.option("--insecure-no-signature", is_flag=True,
              help="Accept unsigned requests. Local testing only: anyone reaching the port can write events.")
def serve_webhooks(out_dir: str, host: str, port: int, max_body_bytes: int, rotate_bytes: int,
                   rotate_seconds: float, replay_window_s: int, answer_timeout_s: float,
                   insecure_no_signature: bool) -> None:
    """Receive Customer.io reporting webhooks into rotating JSONL files.

    Verifies X-CIO-Signature with $CUSTOMERIO_WEBHOOK_SIGNING_KEY, stores each accepted body as
    one line, durably (fdatasync) before answering 200. The file being written ends in `.open`;
    finished files end in `.jsonl`. GET /healthz for load balancers; SIGTERM stops gracefully.
    """
    import os

    from .receiver.server import ReceiverConfig, run

    key = os.environ.get(receiver_settings.SIGNING_KEY_ENV, "").strip()
    if insecure_no_signature:
        signing_key = None
    elif not key:
        _fail(f"set {receiver_settings.SIGNING_KEY_ENV} to the signing key shown on Customer.io's Reporting Webhooks page "
              "(or pass --insecure-no-signature for local testing only)")
    else:
        signing_key = key.encode()
    config = ReceiverConfig(
        out_dir=Path(out_dir), host=host, port=port, signing_key=signing_key, replay_window_s=replay_window_s,
        max_body_bytes=max_body_bytes, rotate_bytes=rotate_bytes, rotate_seconds=rotate_seconds,
        answer_timeout_s=answer_timeout_s, shutdown_timeout_s=answer_timeout_s + 1.0,
    )
    try:
        run(config)
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc}")
# ---------------------------------------------------------------- end serve-webhooks


def run() -> None:
    """The console entry point: `main`, then a quick exit once the command is done.

    The exit code and output are those of `main`. The atexit handlers run as usual (dbt-duckdb
    closes the warehouse there, which checkpoints it; logging flushes), and then the process
    ends without tearing the interpreter down: freeing dbt's manifest and modules object by
    object took 0.7-0.9 s after every build. An unexpected exception still ends the usual way,
    with its traceback."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if code is not None and not isinstance(code, int):
        click.echo(code, err=True)
        code = 1
    import atexit
    import os

    atexit._run_exitfuncs()  # what the interpreter would run at exit, in the same order
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    run()
