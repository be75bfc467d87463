"""`msgmetrics doctor`: the operator's checklist, checked.

Each check returns ✔ (ok), ⚠ (worth a look) or ✘ (a push now would be wrong), with what to do
next. Secrets are reported as present or missing, never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import requests
import yaml

from .amplitude import AmplitudeConfigError
from .amplitude.client import EVENTS_PATH
from .environments import resolve
from .intent_gaps import WIDENS, MessageWithoutIntent, intent_uses, messages_read_by
from .settings import PROJECT_DIR, Warehouse
from .source_freshness import (EVENT_SOURCE_COMMANDS, EVENT_SOURCE_LABELS, event_source_times, raw_source_loads,
                               utc_naive)
from .warehouse_sql import table_exists

OK, WARN, FAIL = "ok", "warn", "fail"
SYMBOL = {OK: "✔", WARN: "⚠", FAIL: "✘"}
RECOMMENDED_METRICS = {"clicked", "unsubscribed"}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    next_step: str = ""

    def line(self) -> str:
        text = f"{SYMBOL[self.status]} {self.name}: {self.detail}"
        return text + (f"\n    → {self.next_step}" if self.next_step and self.status != OK else "")


def project_vars() -> dict:
    with open(PROJECT_DIR / "dbt_project.yml") as f:
        return yaml.safe_load(f).get("vars", {}) or {}


def check_amplitude(environ=os.environ, timeout_s: float = 10.0, environment: str | None = None) -> list[Check]:
    """Which environment and region are targeted, secrets present, and whether the key works there."""
    name = environment or environ.get("MSGMETRICS_ENVIRONMENT") or "default"
    try:
        target = resolve(environment, environ)
        name = target.name
        config = target.amplitude_config(environ)
    except AmplitudeConfigError as exc:
        return [Check("Amplitude target", FAIL, f"environment '{name}': {exc}",
                      "export AMPLITUDE_API_KEY (and AMPLITUDE_REGION=eu for an EU project)")]
    checks = [Check("Amplitude target", OK,
                    f"environment '{name}'{' (protected)' if target.protected else ''}, region {config.region}, "
                    f"ingestion at {config.base_url}; "
                    f"API key set, secret key {'set' if config.secret_key else 'not set'}")]
    try:
        # A request with no events ingests nothing; a wrong key is answered "Invalid API key".
        answer = requests.post(config.base_url + EVENTS_PATH, json={"api_key": config.api_key, "events": []},
                               timeout=timeout_s)
        error = answer.json().get("error", "") if answer.headers.get("content-type", "").startswith("application/json") else answer.text
    except requests.RequestException as exc:
        checks.append(Check("Amplitude API key works", FAIL, f"{config.base_url} did not answer ({type(exc).__name__})",
                            "check the network path to Amplitude, or AMPLITUDE_INGEST_URL"))
        return checks
    if "Invalid API key" in str(error):
        other = "eu" if config.region == "us" else "us"
        checks.append(Check("Amplitude API key works", FAIL,
                            f"{config.base_url} answered 'Invalid API key'",
                            f"check the key; an {other.upper()} project's key sent to the {config.region.upper()} host "
                            f"gets this same error: try AMPLITUDE_REGION={other}"))
    elif answer.status_code in (200, 400):
        checks.append(Check("Amplitude API key works", OK, f"the key is accepted by {config.base_url}"))
    else:
        checks.append(Check("Amplitude API key works", FAIL, f"{config.base_url} answered HTTP {answer.status_code}",
                            "retry later; a 403 means Amplitude's firewall blocked the request"))
    if config.secret_key or config.app_id or config.cohort_owner:
        if config.cohorts_enabled:
            checks.append(Check("Behavioral Cohorts", OK, f"enabled (app {config.app_id}, owner set)"))
        else:
            checks.append(Check("Behavioral Cohorts", WARN, "partly configured: cohorts are pushed as user properties only",
                                "set all of AMPLITUDE_SECRET_KEY, AMPLITUDE_APP_ID and AMPLITUDE_COHORT_OWNER"))
    return checks


def check_warehouse(warehouse: Warehouse, min_coverage: float, max_lag_hours: float,
                    now: datetime | None = None, variables: dict | None = None) -> list[Check]:
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    variables = project_vars() if variables is None else variables
    checks = [_check_metrics(variables)]
    if not warehouse.path.exists():
        return checks + [Check("Warehouse", FAIL, f"{warehouse.path} does not exist", "run msgmetrics load and build")]
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        if not table_exists(con, "marts", "cohort_membership"):
            return checks + [Check("Marts", FAIL, "the marts are not built", "run msgmetrics build")]
        checks.append(_check_identity(con, variables, min_coverage))
        checks.append(_check_cohorts(con))
        checks.append(_check_freshness(con, now, max_lag_hours))
        checks.append(_check_incentive_overlaps(con))
        checks.append(_check_message_intents(con))
    finally:
        con.close()
    return checks


def _check_metrics(variables: dict) -> Check:
    metrics = set(variables.get("amplitude_event_metrics") or [])
    if not metrics:
        return Check("Events selected", FAIL, "var amplitude_event_metrics is empty: no events would be pushed",
                     "set amplitude_event_metrics in dbt_project.yml (clicks and unsubscribes are the recommended start)")
    detail = f"metrics {', '.join(sorted(metrics))} on every channel"
    if "opened" in metrics:
        return Check("Events selected", WARN, detail + "; opens include machine (prefetched) opens",
                     "prefer clicks and unsubscribes; machine opens inflate engagement")
    missing = RECOMMENDED_METRICS - metrics
    if missing:
        return Check("Events selected", WARN, detail + f"; the recommended {', '.join(sorted(missing))} is not selected",
                     "add it to amplitude_event_metrics")
    return Check("Events selected", OK, detail)


def _check_identity(con, variables: dict, min_coverage: float) -> Check:
    rule = variables.get("amplitude_identity_rule", "customerio_id")
    rows = con.execute("select measure, outcome, is_resolved, n from marts.rpt_identity_coverage").fetchall()
    totals: dict[str, list[int]] = {}
    reasons: dict[str, int] = {}
    for measure, outcome, resolved, n in rows:
        total = totals.setdefault(measure, [0, 0])
        total[1] += n
        if resolved:
            total[0] += n
        elif measure == "people":
            reasons[outcome] = reasons.get(outcome, 0) + n
    shares = {m: (r / t if t else 0.0) for m, (r, t) in totals.items()}
    detail = (f"rule {rule}; {shares.get('people', 0):.1%} of people and {shares.get('events', 0):.1%} of events "
              "resolve to an Amplitude user id")
    top = ", ".join(f"{reason} ({n:,})" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    conflicts = con.execute("select count(*) from marts.rpt_identity_conflicts").fetchone()[0]
    if conflicts:
        return Check("Canonical identity", FAIL, detail + f"; {conflicts:,} people in identity conflicts",
                     "see marts.rpt_identity_conflicts: fix the ids or the mapping before pushing")
    if min(shares.get("people", 0), shares.get("events", 0)) < min_coverage:
        return Check("Canonical identity", WARN, detail + f", under the {min_coverage:.0%} threshold; top reasons: {top}",
                     "see marts.rpt_identity_coverage; consider amplitude_identity_rule=mapping for the rest")
    return Check("Canonical identity", OK, detail + (f"; unresolved: {top}" if top else ""))


def _check_cohorts(con) -> Check:
    sizes = dict(con.execute(  # pushed cohorts only: building blocks (amplitude_property null) are not sent
        "select cohort_name, count(amplitude_user_id) from marts.cohort_membership "
        "where amplitude_property is not null group by 1").fetchall())
    non_empty = {name: n for name, n in sizes.items() if n}
    detail = ", ".join(f"{name} {n:,}" for name, n in sorted(sizes.items())) or "none"
    if len(non_empty) < 2:
        return Check("Activation cohorts", FAIL, f"fewer than two non-empty cohorts with Amplitude ids ({detail})",
                     "check the data's freshness and as_of, and the cohort settings in dbt_project.yml")
    return Check("Activation cohorts", OK, f"{len(non_empty)} non-empty: {detail}")


def _check_incentive_overlaps(con) -> Check:
    """✘ when a person is assigned two incentive audiences: two incentive audiences overlap and
    neither a priority nor a suppression decides between them (the double-discount problem)."""
    name = "Suppression and priority rules for overlapping incentive audiences"
    if not (table_exists(con, "marts", "audience_assignments") and table_exists(con, "marts", "dim_audiences")):
        return Check(name, WARN, "the audience marts are not built", "run msgmetrics build")
    overlaps = con.execute("""
        select a.audience_name, b.audience_name, count(*) as people
        from marts.audience_assignments as a
        join marts.audience_assignments as b
            on b.person_key = a.person_key and b.audience_name > a.audience_name
        where a.is_assigned and a.is_incentive and b.is_assigned and b.is_incentive
        group by 1, 2 order by 3 desc, 1, 2
    """).fetchall()
    incentives = con.execute("""
        select audience_name, priority from marts.dim_audiences where is_incentive order by registry_order
    """).fetchall()
    unranked = [audience for audience, priority in incentives if priority is None]
    if overlaps:
        pairs = "; ".join(f"{a} and {b} ({n:,} people)" for a, b, n in overlaps[:5])
        return Check(name, FAIL, f"people would get two incentives: {pairs}",
                     "give each incentive audience a distinct priority (var audiences in dbt_project.yml), "
                     "or suppress one with the other's cohort, then build; see marts.audience_assignments")
    outranked, suppressed = con.execute("""
        select count(*) filter (where status = 'outranked'), count(*) filter (where status = 'suppressed')
        from marts.audience_assignments where is_incentive
    """).fetchone()
    if not incentives:
        return Check(name, OK, "no incentive audiences are defined")
    detail = (f"{len(incentives)} incentive audiences; nobody gets two; {outranked:,} outranked by a better priority, "
              f"{suppressed:,} suppressed")
    if unranked:
        return Check(name, WARN, detail + f"; without a priority: {', '.join(unranked)}",
                     "they do not overlap today, but nothing decides if they do: give them priorities")
    return Check(name, OK, detail)


def _hours(delta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:,.1f} h ago" if hours >= 0 else f"{-hours:,.1f} h in the future"


def _check_freshness(con, now: datetime, max_lag_hours: float) -> Check:
    """The newest event against the refresh cadence, from whichever sources feed the warehouse
    (webhooks, App API, Data Warehouse Sync); ⚠ when one source stopped while another goes on."""
    times = event_source_times(con)
    loads = raw_source_loads(con)
    event_loads = [ld for ld in loads if ld.source.event_source]
    if not times:
        fed = ", ".join(ld.source.label for ld in event_loads)
        return Check("Data freshness", FAIL,
                     "no events in the warehouse" + (f" (loaded but not built: {fed})" if fed else ""),
                     "run msgmetrics build" if fed else
                     "load Customer.io data (msgmetrics load webhooks PATH, load api or load dw-sync PATH), then build")
    newest = max((t for t in times if t.newest_event), key=lambda t: t.newest_event, default=None)
    if newest is None:
        return Check("Data freshness", FAIL, "events without a time in marts.fct_message_events", "rebuild: msgmetrics build")
    lag_hours = (now - newest.newest_event).total_seconds() / 3600
    dated = [t for t in times if t.newest_event]
    label = lambda t: EVENT_SOURCE_LABELS.get(t.event_source, t.event_source)  # noqa: E731
    if len(dated) == 1:
        sources = f"from {label(newest)} ({newest.events:,} events)"
    else:
        sources = "from " + ", ".join(f"{label(t)} ({t.events:,} events, newest {t.newest_event:%Y-%m-%d %H:%M})"
                                      for t in dated)
    arrived = ", ".join(f"{ld.source.label} {ld.newest_loaded_at:%Y-%m-%d %H:%M}"
                        for ld in loads if ld.newest_loaded_at)
    head = f"newest event {newest.newest_event:%Y-%m-%d %H:%M} UTC ({lag_hours:,.1f} h ago) {sources}"
    tail = f"; data last arrived: {arrived}" if arrived else ""
    detail = head + tail
    if lag_hours > max_lag_hours:
        commands = [EVENT_SOURCE_COMMANDS[t.event_source] for t in times if t.event_source in EVENT_SOURCE_COMMANDS]
        return Check("Data freshness", FAIL, head + f", older than the {max_lag_hours:g} h refresh cadence" + tail,
                     f"stale suppression cohorts waste spend: load the latest data ({'; '.join(commands)}), "
                     "build, then push")
    stopped = [ld for ld in loads if ld.newest_loaded_at is not None and ld.source.key != "api_names"
               and (now - ld.newest_loaded_at).total_seconds() / 3600 > max_lag_hours]
    if stopped:
        which = ", ".join(f"{ld.source.label} (last {_hours(now - ld.newest_loaded_at)})" for ld in stopped)
        return Check("Data freshness", WARN, detail + f"; no new data for over {max_lag_hours:g} h from: {which}",
                     "check that those loads (and the webhook receiver) still run: "
                     + "; ".join(dict.fromkeys(ld.source.load_command for ld in stopped)))
    return Check("Data freshness", OK, detail)


INTENTS_CHECK = "Messages without intent"


def _check_message_intents(con) -> Check:
    """Messages nothing gives an intent are invisible to intent filters. ✘ when that can flag
    someone who should not be (an intent filter that leaves people out), ⚠ when it only makes
    cohorts miss people; only messages on the filter's channels inside its window count."""
    needed = ("dim_cohorts", "dim_audiences", "rpt_messages_without_intent")
    if not all(table_exists(con, "marts", t) for t in needed):
        return Check(INTENTS_CHECK, WARN, "the intent marts are not built", "run msgmetrics build")
    uses = intent_uses(
        con.execute("select cohort_name, shape, parameters, is_pushed from marts.dim_cohorts").fetchall(),
        con.execute("select audience_name, cohort_name, suppressed_by_cohorts, is_pushed "
                    "from marts.dim_audiences").fetchall())
    messages = [MessageWithoutIntent(channel, int(deliveries or 0), last_seen, label) for channel, deliveries, last_seen, label in
                con.execute("""
                    select channel, deliveries, last_seen_at,
                           parent_type || ' ' || parent_id
                           || coalesce(' action ' || action_id, '') || coalesce(' variant ' || content_id, '')
                           || coalesce(' "' || coalesce(message_name, parent_name) || '"', '')
                    from marts.rpt_messages_without_intent order by deliveries desc nulls last, 4""").fetchall()]
    total = (f"{len(messages):,} messages without intent ({sum(m.deliveries for m in messages):,} deliveries)"
             if messages else "every message has an intent")
    if not uses:
        return Check(INTENTS_CHECK, OK, f"no pushed cohort or audience filters by intent; {total}")
    as_of = utc_naive(con.execute("select max(as_of) from marts.cohort_membership").fetchone()[0])
    hits = [(use, messages_read_by(use, messages, as_of)) for use in uses]
    hits = [(use, read) for use, read in hits if read]
    targets = sorted({u.target for u in uses})
    if not hits:
        scope = f"{len(targets)} pushed cohorts and audiences filter by intent"
        if not messages:
            return Check(INTENTS_CHECK, OK, f"{total} ({scope})")
        return Check(INTENTS_CHECK, OK, f"{total}, none on the channels and in the windows they read ({scope})")
    read = {m.label: m for _, ms in hits for m in ms}
    top = ", ".join(m.label for m in sorted(read.values(), key=lambda m: -m.deliveries)[:3])
    fix = ("give them an intent: a row in seeds/message_intents.csv (parent_type, parent_id, action_id, intent) or "
           "a name pattern in seeds/message_intent_patterns.csv, then msgmetrics build; "
           "the list is marts.rpt_messages_without_intent")
    widening = [u for u, _ in hits if u.direction == WIDENS]
    seen = f"{len(read):,} messages without intent ({sum(m.deliveries for m in read.values()):,} deliveries; {top})"
    if widening:
        names = "; ".join(dict.fromkeys(u.describe() for u in widening))
        return Check(INTENTS_CHECK, FAIL,
                     f"{seen} are not seen by intent filters that leave people out, so people who should be left "
                     f"out would be flagged: {names}", fix)
    names = "; ".join(dict.fromkeys(u.describe() for u, _ in hits))
    return Check(INTENTS_CHECK, WARN, f"{seen} are not counted by intent filters, so these miss people: {names}", fix)


def run_checks(warehouse: Warehouse, min_coverage: float = 0.8, max_lag_hours: float = 24.0,
               environ=os.environ, now: datetime | None = None, variables: dict | None = None,
               environment: str | None = None) -> list[Check]:
    return (check_amplitude(environ, environment=environment)
            + check_warehouse(warehouse, min_coverage, max_lag_hours, now, variables))
