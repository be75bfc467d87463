"""Which pushed cohorts and audiences read message intents, and which way a message without
an intent (marts.rpt_messages_without_intent) moves them.

An event filter with ``intents`` does not count the events of a message nobody gave an intent.
Where the filter decides who is *in* (engagement ``event``, absence ``received``, sequence
``first``), the cohort misses people: smaller than it should be, but everyone in it belongs.
Where it decides who is *left out* (absence ``absent``, sequence ``then_no``, an engagement with
a ``max_count``, a transition's quiet days), a missed event keeps someone in who should have
left: a person is flagged (an offer, a suppression lifted) who should not be. Combinations pass
their parts' directions on (``none_of`` flips them), and so do audiences (a ``suppress`` cohort
that misses people lets them through).

Pure functions over the rows of marts.dim_cohorts, marts.dim_audiences and
marts.rpt_messages_without_intent; `msgmetrics doctor` and the report use them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

NARROWS, WIDENS = "narrows", "widens"  # a missed event makes the cohort smaller / lets people in
FLIP = {NARROWS: WIDENS, WIDENS: NARROWS}

# shape -> (parameter holding an event filter, its direction, parameter holding its window in days)
FILTER_ROLES = {
    "engagement": (("event", NARROWS, "window_days"),),
    "absence": (("received", NARROWS, "window_days"), ("absent", WIDENS, "window_days")),
    "sequence": (("first", NARROWS, "window_days"), ("then_no", WIDENS, "window_days")),
    # the event in (as_of - since_days, as_of - quiet_days] lets in, none in the quiet days keeps in
    "transition": (("event", WIDENS, "since_days"),),
}


@dataclass(frozen=True)
class IntentUse:
    target: str  # the pushed cohort or audience affected
    target_kind: str  # cohort | audience
    cohort: str  # the cohort whose filter reads intents
    parameter: str  # which of its filters
    intents: tuple[str, ...]
    channels: tuple[str, ...]  # empty: every channel
    window_days: int | None  # None: ever
    direction: str  # NARROWS | WIDENS

    def describe(self) -> str:
        via = "" if self.cohort == self.target else f" via {self.cohort}"
        return f"{self.target}{via} ({self.parameter}: {', '.join(self.intents)})"


@dataclass(frozen=True)
class MessageWithoutIntent:
    channel: str | None
    deliveries: int
    last_seen_at: datetime | None
    label: str


def _direct_uses(name: str, shape: str, parameters: dict) -> list[tuple[str, str, tuple, tuple, int | None, str]]:
    uses = []
    if shape == "engagement" and parameters.get("max_count") is not None:
        roles = (("event", WIDENS, "window_days"),)  # fewer counted events can bring someone under the max
    else:
        roles = FILTER_ROLES.get(shape, ())
    for parameter, direction, window_key in roles:
        event = parameters.get(parameter) or {}
        intents = tuple(event.get("intents") or ())
        if intents:
            uses.append((name, parameter, intents, tuple(event.get("channels") or ()),
                         parameters.get(window_key), direction))
    return uses


def cohort_uses(cohorts: list[tuple[str, str, str | dict]]) -> dict[str, list[tuple]]:
    """cohort_name -> (source cohort, parameter, intents, channels, window, direction) for every
    intent filter the cohort depends on, through combinations. ``cohorts``: (name, shape, parameters)."""
    registry = {name: (shape, json.loads(p) if isinstance(p, str) else (p or {})) for name, shape, p in cohorts}
    memo: dict[str, list[tuple]] = {}

    def uses_of(name: str, seen: frozenset) -> list[tuple]:
        if name in memo:
            return memo[name]
        if name in seen or name not in registry:  # a cycle or an unknown part: the build refuses those
            return []
        shape, parameters = registry[name]
        found = _direct_uses(name, shape, parameters)
        if shape == "combination":
            for part in parameters.get("all_of") or ():
                found += uses_of(part, seen | {name})
            for part in parameters.get("none_of") or ():
                found += [u[:5] + (FLIP[u[5]],) for u in uses_of(part, seen | {name})]
        memo[name] = found
        return found

    return {name: uses_of(name, frozenset()) for name in registry}


def intent_uses(cohorts: list[tuple[str, str, str | dict, bool]],
                audiences: list[tuple[str, str, str | None, bool]]) -> list[IntentUse]:
    """Every way a pushed cohort or audience reads intents. ``cohorts``: (name, shape, parameters,
    is_pushed); ``audiences``: (name, cohort_name, suppressed_by_cohorts comma-separated, is_pushed)."""
    by_cohort = cohort_uses([c[:3] for c in cohorts])
    out = []
    for name, _, _, pushed in cohorts:
        if pushed:
            out += [IntentUse(name, "cohort", *u) for u in by_cohort.get(name, [])]
    for name, cohort, suppressed_by, pushed in audiences:
        if not pushed:
            continue
        out += [IntentUse(name, "audience", *u) for u in by_cohort.get(cohort, [])]
        for suppressor in (s.strip() for s in (suppressed_by or "").split(",") if s.strip()):
            out += [IntentUse(name, "audience", *u[:5], FLIP[u[5]]) for u in by_cohort.get(suppressor, [])]
    return out


def messages_read_by(use: IntentUse, messages: list[MessageWithoutIntent],
                     as_of: datetime | None) -> list[MessageWithoutIntent]:
    """The messages without intent that ``use``'s filter would have read: on its channels and
    seen inside its window (any time when the window is 'ever' or as_of is unknown)."""
    start = as_of - timedelta(days=use.window_days) if as_of is not None and use.window_days is not None else None
    return [m for m in messages
            if (not use.channels or m.channel in use.channels)
            and (start is None or m.last_seen_at is None or m.last_seen_at > start)]
