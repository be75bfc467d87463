"""Cohort membership as Amplitude Behavioral Cohorts: create each cohort once, then ADD
the people who entered and REMOVE those who left (only members msgmetrics added),
one request after another per cohort. The ledger is written per accepted request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..amplitude.cohorts import MAX_IDS_PER_REQUEST, AmplitudeCohortsClient
from . import ledger
from .plan import MARTS, ledger_for

log = logging.getLogger(__name__)


@dataclass
class CohortChange:
    cohort_name: str
    amplitude_name: str  # the cohort's name in Amplitude (the user property name)
    amplitude_cohort_id: str | None
    desired: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)


def plan_cohorts(con, environment: str) -> list[CohortChange]:
    """Per cohort: who should be in it, who to add and who to remove (marts vs ledger)."""
    env = {"env": environment}
    desired: dict[str, tuple[str, list[str]]] = {}
    for cohort_name, amplitude_name, user_id in con.execute(
        f"select cohort_name, property_name, user_id from {MARTS}.fct_amplitude_user_properties order by 1, 3"
    ).fetchall():
        desired.setdefault(cohort_name, (amplitude_name, []))[1].append(user_id)
    current: dict[str, set[str]] = {}
    members_now = ledger_for("amplitude_cohort_members_current")
    for cohort_name, user_id in con.execute(f"select cohort_name, user_id from {members_now}", env).fetchall():
        current.setdefault(cohort_name, set()).add(user_id)
    cohorts = con.execute(
        f"select cohort_name, amplitude_cohort_id, amplitude_name from {ledger_for('amplitude_cohorts')}", env
    ).fetchall()
    known = {name: cohort_id for name, cohort_id, _ in cohorts}
    names = {name: amplitude_name for name, _, amplitude_name in cohorts}
    changes = []
    for cohort_name in sorted(set(desired) | set(current)):
        amplitude_name, members = desired.get(cohort_name, (names.get(cohort_name), []))
        now_in = current.get(cohort_name, set())
        changes.append(CohortChange(
            cohort_name=cohort_name,
            amplitude_name=amplitude_name,
            amplitude_cohort_id=known.get(cohort_name),
            desired=members,
            adds=[u for u in members if u not in now_in],
            removes=sorted(now_in - set(members)),
        ))
    return changes


def sync_cohorts(con, client: AmplitudeCohortsClient, changes: list[CohortChange], stamp: ledger.Stamp,
                 full_replace: bool, in_transaction) -> dict[str, dict[str, int]]:
    """Apply the changes; returns per cohort the members added and removed (accepted)."""
    done: dict[str, dict[str, int]] = {}
    listed: list[dict] | None = None  # the project's cohorts, listed once when a cohort id is unknown
    for change in changes:
        counts = done.setdefault(change.cohort_name, {"added": 0, "removed": 0})
        cohort_id = change.amplitude_cohort_id
        if cohort_id is None:
            if listed is None:
                listed = client.list_cohorts()
            cohort_id = client.find_cohort_id(change.amplitude_name, listed)
        if cohort_id is None or (full_replace and change.desired):
            if not change.desired:
                log.info("cohort %s has no members yet: created in Amplitude once it has one", change.cohort_name)
                continue
            # create (Amplitude rejects an empty upload), or replace the whole membership. One request
            # takes at most 100,000 ids: upload the first ones, then ADD the rest in membership chunks.
            first, rest = change.desired[:MAX_IDS_PER_REQUEST], change.desired[MAX_IDS_PER_REQUEST:]
            cohort_id = client.upload(change.amplitude_name, first, existing_cohort_id=cohort_id)
            adds = set(change.adds)
            first_set = set(first)
            # after the upload the cohort holds exactly `first`: members of `rest` we had added are out
            # until the ADDs below put them back, and the ledger says so in between
            out_now = change.removes + [u for u in rest if u not in adds]

            def record_upload(change=change, cohort_id=cohort_id, out_now=out_now):
                ledger.record_cohort(con, change.cohort_name, cohort_id, change.amplitude_name, stamp)
                ledger.record_membership(con, change.cohort_name, [u for u in change.adds if u in first_set],
                                         "add", stamp)
                ledger.record_membership(con, change.cohort_name, out_now, "remove", stamp)

            in_transaction(record_upload)
            counts["added"] += sum(1 for u in change.adds if u in first_set)
            counts["removed"] += len(change.removes)
            if rest:
                def added_rest(ids, change=change, counts=counts, adds=adds):
                    in_transaction(lambda: ledger.record_membership(con, change.cohort_name, ids, "add", stamp))
                    counts["added"] += sum(1 for u in ids if u in adds)

                client.update_membership(cohort_id, add=rest, on_added=added_rest)
            continue
        if change.amplitude_cohort_id is None:  # found by name: remember it
            in_transaction(lambda: ledger.record_cohort(con, change.cohort_name, cohort_id, change.amplitude_name, stamp))

        def added(ids, change=change, counts=counts):
            in_transaction(lambda: ledger.record_membership(con, change.cohort_name, ids, "add", stamp))
            counts["added"] += len(ids)

        def removed(ids, change=change, counts=counts):
            in_transaction(lambda: ledger.record_membership(con, change.cohort_name, ids, "remove", stamp))
            counts["removed"] += len(ids)

        if change.adds or change.removes:
            client.update_membership(cohort_id, add=change.adds, remove=change.removes,
                                     on_added=added, on_removed=removed)
    return done
