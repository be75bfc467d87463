"""What a default `msgmetrics build` must run: the nodes downstream of what changed since the last one.

Every model is a function of its sources, the project's code (seeds included), the vars and, for
the windowed models, `as_of`. So after a successful build on this warehouse, a node whose
sources have no new load, whose code and vars are the same and that does not read `as_of` (or
`as_of` is the same) would compute what it already holds: building it again costs dbt's per-node
time and nothing else. This module decides, from dbt's parsed manifest and a signature of each
source table, which nodes those are not:

  * nothing recorded, another code fingerprint (code, seeds, dbt version, vars): every node;
  * otherwise the nodes downstream of each source table whose signature changed, plus, when
    `as_of` changed (or is "now"), the nodes downstream of every model that reads it
    (`as_of_timestamp`, `computed_at_timestamp` and the macros that call them);
  * nothing of that: no dbt run at all.

When the plan is not "every node", the data tests of the incremental models may also look only
at what this build can have written: the rows loaded after the last build started (its tests
passed on everything before; see macros/tests/checked_since.sql). `Plan.checked_after` is that
time; None (every node) keeps the whole-table tests.

A source table's signature is its row count and the dlt loads of its dataset (`_dlt_loads`: how
many, the newest id), so a load that replaces rows without adding any still counts as a change.
The state of the last successful build is kept in a JSON file beside the warehouse, like the unit
tests' marker; without it (a copied warehouse, a first build) the build runs every node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .settings import Warehouse, replace_file

# The macros through which a model reads the build's clock (macros/as_of.sql).
CLOCK_MACROS = ("macro.msgmetrics.as_of_timestamp", "macro.msgmetrics.computed_at_timestamp")


@dataclass(frozen=True)
class BuildState:
    """What the last successful full-graph build on a warehouse was computed from."""

    fingerprint: str  # code_fingerprint without as_of
    as_of: str | None  # normalised; None = the build's own start time
    sources: dict[str, list]  # source unique_id -> signature
    started_at: str | None = None  # UTC 'YYYY-MM-DD HH:MM:SS.ffffff', taken under the writer lock

    def to_json(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "as_of": self.as_of, "sources": self.sources,
                           "started_at": self.started_at}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "BuildState":
        data = json.loads(text)
        return cls(data["fingerprint"], data.get("as_of"), {k: list(v) for k, v in data["sources"].items()},
                   data.get("started_at"))


@dataclass
class Plan:
    """`select` is None for every node, [] for none, else dbt selectors whose union is to be built."""

    select: list[str] | None
    reasons: list[str] = field(default_factory=list)
    checked_after: str | None = None  # incremental models' tests: rows loaded after this (UTC); None = all

    @property
    def everything(self) -> bool:
        return self.select is None


def state_path(warehouse: Warehouse) -> Path:
    return warehouse.path.with_name(warehouse.path.name + ".last-build.json")


def read_state(warehouse: Warehouse) -> BuildState | None:
    try:
        return BuildState.from_json(state_path(warehouse).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(warehouse: Warehouse, state: BuildState) -> None:
    replace_file(state_path(warehouse), state.to_json() + "\n")


def source_tables(manifest) -> dict[str, tuple[str, str]]:
    """source unique_id -> (schema, table) for every source of the parsed manifest."""
    return {uid: (s.schema, s.identifier) for uid, s in manifest.sources.items()}


def source_signatures(con, tables: dict[str, tuple[str, str]]) -> dict[str, list]:
    """source unique_id -> [row count or None when absent, dlt loads of its schema, newest load id]."""
    present = {(s, t) for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    loads: dict[str, list] = {}
    for schema in sorted({schema for schema, _ in tables.values()}):
        if (schema, "_dlt_loads") in present:
            loads[schema] = list(con.execute(
                f'select count(*), max(load_id) from "{schema}"."_dlt_loads"').fetchone())
        else:
            loads[schema] = [0, None]
    signatures = {}
    for uid, (schema, table) in tables.items():
        rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0] \
            if (schema, table) in present else None
        signatures[uid] = [rows, *loads[schema]]
    return signatures


def clock_models(manifest, clock_macros: tuple[str, ...] = CLOCK_MACROS) -> list[str]:
    """Names of the models (and tests) that read as_of or the build's start time, directly or via macros."""
    reads_clock: dict[str, bool] = {}

    def macro_reads_clock(uid: str, seen: frozenset = frozenset()) -> bool:
        if uid in clock_macros:
            return True
        if uid not in reads_clock:
            macro = manifest.macros.get(uid)
            deps = macro.depends_on.macros if macro is not None else []
            reads_clock[uid] = any(macro_reads_clock(d, seen | {uid}) for d in deps if d not in seen)
        return reads_clock[uid]

    return sorted(node.name for node in manifest.nodes.values()
                  if node.resource_type in ("model", "test")
                  and any(macro_reads_clock(m) for m in node.depends_on.macros))


def plan(previous: BuildState | None, current: BuildState, manifest) -> Plan:
    """The nodes to build now, given the state of the last successful build and the current one."""
    if previous is None:
        return Plan(None, ["no earlier build recorded for this warehouse"])
    if previous.fingerprint != current.fingerprint:
        return Plan(None, ["the project's code, seeds, dbt version or vars changed since the last build"])
    select, reasons = [], []
    changed = sorted(uid for uid, sig in current.sources.items() if previous.sources.get(uid) != sig)
    for uid in changed:
        source = manifest.sources[uid]
        select.append(f"source:{source.source_name}.{source.name}+")
    if changed:
        reasons.append("new data in " + ", ".join(uid.split(".", 2)[2] for uid in changed))
    if current.as_of is None or current.as_of != previous.as_of:
        select += [f"{name}+" for name in clock_models(manifest)]
        reasons.append("as_of is now" if current.as_of is None else f"as_of changed from {previous.as_of}")
    return Plan(select, reasons, checked_after=previous.started_at)
