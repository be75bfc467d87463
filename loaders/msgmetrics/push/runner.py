"""`msgmetrics push`: diff the activation marts against the ledger and send the difference."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from ..amplitude import AmplitudeClient, AmplitudeCohortsClient, AmplitudeConfig, AmplitudeError
from ..settings import Warehouse
from ..writer_lock import writer_lock
from . import ledger
from .cohort_sync import plan_cohorts, sync_cohorts
from .payloads import event_payload, identifications
from .plan import check_marts_exist, compute_plan

log = logging.getLogger(__name__)

SAMPLE_SIZE = 5


@dataclass
class PushResult:
    run_id: str
    dry_run: bool
    target: str
    environment: str = "default"
    events_planned: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    property_sets_planned: int = 0
    property_unsets_planned: int = 0
    identifications_planned: int = 0
    identifications_accepted: int = 0
    identifications_rejected: int = 0
    retries: int = 0
    stale_resends: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    sets_by_property: dict[str, int] = field(default_factory=dict)
    unsets_by_property: dict[str, int] = field(default_factory=dict)
    cohorts_api: bool = False  # Behavioral Cohorts configured (secret key, app id, owner)
    cohort_adds_planned: dict[str, int] = field(default_factory=dict)
    cohort_removes_planned: dict[str, int] = field(default_factory=dict)
    cohort_changes_accepted: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    output_dir: str | None = None

    @property
    def exit_code(self) -> int:
        """0 = everything accepted (or a dry run); 2 = some records dead-lettered."""
        return 2 if (self.events_rejected or self.identifications_rejected) else 0

    def to_dict(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code}


def _samples(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for user_id, name in pairs:
        ids = out.setdefault(name, [])
        if len(ids) < SAMPLE_SIZE:
            ids.append(user_id)
    return out


def _write_dry_run(directory: Path, events: list[dict], idents: list[dict], cohorts, result: PushResult) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "events.jsonl", "w") as f:
        for event in events:
            f.write(json.dumps(event, sort_keys=True) + "\n")
    with open(directory / "identify.jsonl", "w") as f:
        for ident in idents:
            f.write(json.dumps(ident, sort_keys=True) + "\n")
    (directory / "cohorts.json").write_text(json.dumps(
        {c.cohort_name: {"amplitude_name": c.amplitude_name, "add": c.adds, "remove": c.removes} for c in cohorts},
        indent=2, sort_keys=True))
    (directory / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True))


def _record_run(con, result: PushResult, started_at, status: str, error: str | None) -> None:
    con.execute(
        f"insert or replace into {ledger.S}.push_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.run_id, result.environment, started_at, ledger.utcnow(), result.dry_run, result.target,
            result.events_planned, result.events_accepted, result.events_rejected,
            result.property_sets_planned, result.property_unsets_planned,
            result.identifications_accepted, result.retries, status, error,
        ],
    )


def _in_transaction(con, write) -> None:
    con.begin()
    try:
        write()
        con.commit()
    except BaseException:
        con.rollback()
        raise


def push(
    warehouse: Warehouse,
    config: AmplitudeConfig | None = None,
    dry_run: bool = False,
    output_dir: Path | None = None,
    client: AmplitudeClient | None = None,
    cohorts_client: AmplitudeCohortsClient | None = None,
    full_replace: bool = False,
    environment: str = "default",
) -> PushResult:
    """Send what the ledger does not have yet. With dry_run, only compute and write it.

    Cohorts also go to Amplitude's Behavioral Cohorts API when the config has a secret
    key, app id and owner (or a cohorts_client is given); full_replace re-uploads each
    cohort whole instead of adding and removing members. The ledger is read and written for
    `environment` only (one Amplitude project)."""
    run_id = ledger.utcnow().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    target = "dry-run" if dry_run else (config.base_url if config else client.config.base_url)
    result = PushResult(run_id=run_id, dry_run=dry_run, target=target, environment=environment)
    stamp = ledger.Stamp(environment, run_id)
    result.cohorts_api = cohorts_client is not None or bool(config and config.cohorts_enabled)
    started_at = ledger.utcnow()
    with writer_lock(warehouse, "push"):
        con = duckdb.connect(str(warehouse.path))
        try:
            ledger.ensure(con)
            check_marts_exist(con)
            plan = compute_plan(con, environment)
            events = [event_payload(row) for row in plan.events]
            idents = identifications(plan.property_sets, plan.property_unsets)
            result.events_planned = len(events)
            result.property_sets_planned = len(plan.property_sets)
            result.property_unsets_planned = len(plan.property_unsets)
            result.identifications_planned = len(idents)
            result.stale_resends = plan.stale_resends
            if plan.stale_resends:
                log.warning(
                    "%d events were first sent more than 7 days ago and never confirmed: Amplitude no longer "
                    "deduplicates their insert_id, so some may be stored twice", plan.stale_resends,
                )
            result.events_by_type = dict(sorted(Counter(e["event_type"] for e in events).items()))
            result.sets_by_property = dict(sorted(Counter(n for _, n in plan.property_sets).items()))
            result.unsets_by_property = dict(sorted(Counter(n for _, n in plan.property_unsets).items()))
            cohort_changes = plan_cohorts(con, environment)
            result.cohort_adds_planned = {c.cohort_name: len(c.adds) for c in cohort_changes}
            result.cohort_removes_planned = {c.cohort_name: len(c.removes) for c in cohort_changes}
            result.samples = {
                **{f"$set {k}": v for k, v in _samples(plan.property_sets).items()},
                **{f"$unset {k}": v for k, v in _samples(plan.property_unsets).items()},
            }
            if dry_run:
                directory = output_dir or warehouse.path.parent / "dry_run" / run_id
                result.output_dir = str(directory)
                _write_dry_run(directory, events, idents, cohort_changes, result)
                _record_run(con, result, started_at, "dry_run", None)
                return result
            ingest = client or AmplitudeClient(config)
            try:
                _send(con, ingest, events, idents, result, stamp)
            finally:
                if client is None:
                    ingest.close()  # its sessions and sender threads
            if result.cohorts_api:
                result.cohort_changes_accepted = sync_cohorts(
                    con, cohorts_client or AmplitudeCohortsClient(config), cohort_changes, stamp,
                    full_replace, lambda write: _in_transaction(con, write),
                )
            _record_run(con, result, started_at, "partial" if result.exit_code else "success", None)
            return result
        except AmplitudeError as exc:
            _record_run(con, result, started_at, "failed", str(exc))
            raise
        finally:
            con.close()


def _send(con, client: AmplitudeClient, events: list[dict], idents: list[dict], result: PushResult,
          stamp: ledger.Stamp) -> None:
    def callbacks(kind: str, record_accepted, key: str, planned: int):
        """(on_accepted, on_rejected) that write the ledger, one transaction per request."""

        def accepted(chunk: list[dict]) -> None:
            _in_transaction(con, lambda: record_accepted(con, chunk, stamp))
            setattr(result, f"{kind}_accepted", getattr(result, f"{kind}_accepted") + len(chunk))
            log.info("%s: %d/%d accepted", kind, getattr(result, f"{kind}_accepted"), planned)

        def rejected(chunk: list[dict], reason: str) -> None:
            _in_transaction(con, lambda: ledger.record_dead_letters(con, kind, chunk, key, reason, stamp))
            setattr(result, f"{kind}_rejected", getattr(result, f"{kind}_rejected") + len(chunk))
            log.warning("%s: %d rejected by Amplitude: %s", kind, len(chunk), reason)

        return accepted, rejected

    if events:
        _in_transaction(con, lambda: ledger.record_attempts(con, events, stamp))
        report = client.send_events(events, *callbacks("events", ledger.record_events, "insert_id", len(events)))
        result.retries += report.retries
    if idents:
        report = client.identify(
            idents, *callbacks("identifications", ledger.record_identifications, "user_id", len(idents))
        )
        result.retries += report.retries
