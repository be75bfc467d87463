"""Turn the queried data into one self-contained HTML page.

Each section renders either charts (``<figure class="chart">`` holding an inline ``<svg>``)
with a caption naming its source table, or a short "no data yet" note that says which
command fills the table. A section that fails renders its error instead of stopping the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from . import queries as q
from . import render_intents, svg
from .blocks import (LEVEL_COLORS, LEVEL_WORDS, LOAD_HINT, STATUS_COLORS, Body, Options, all_days, badge, empty_note,
                     figure, fmt_age, fmt_ts, level_for, missing_note, note, table)
from .render_audiences import render_audiences
from .render_intents import render_without_intent
from .render_sources import render_sources, source_label
from .svg import BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION, YELLOW, Series, esc, fmt_int, fmt_pct

log = logging.getLogger(__name__)

HUMAN, MACHINE = BLUE, ORANGE


# ---------------------------------------------------------------- 1. cohorts
def render_cohorts(sizes: q.CohortSizes | q.Missing, history: q.CohortHistory | q.Missing, opts: Options) -> Body:
    parts, charts, status = [], [], "ok"
    if isinstance(sizes, q.Missing):
        parts.append(missing_note("cohort-sizes", sizes))
        status = "empty"
    elif not sizes.rows:
        parts.append(empty_note("cohort-sizes", q.COHORT_MEMBERSHIP, "no one is in any cohort at this as_of"))
        status = "empty"
    else:
        labels = [r[0] for r in sizes.rows]
        with_id = Series("with an Amplitude user id (pushed)", BLUE, [r[2] for r in sizes.rows])
        without = Series("no Amplitude user id (not pushed)", ORANGE, [r[1] - r[2] for r in sizes.rows])
        as_of = ", ".join(fmt_ts(a) for a in sizes.as_of) or "unknown"
        chart = svg.hbar_stacked(
            labels, [with_id, without], kind="hbar",
            title=f"Cohort sizes as of {as_of}",
            desc="Members per cohort: " + "; ".join(f"{r[0]} {r[1]:,} ({r[2]:,} with an Amplitude user id)"
                                                     for r in sizes.rows),
            total_label=lambda i: f"{sizes.rows[i][1]:,} members")
        parts.append(figure("cohort-sizes", chart,
                            f"Current members of each cohort as of <strong>{esc(as_of)}</strong>, split by whether "
                            "the person resolves to an Amplitude user id (only those are pushed).",
                            q.COHORT_MEMBERSHIP))
        charts.append("cohort-sizes")

    history_html, history_charts = _render_history(history)
    parts.append(history_html)
    charts += history_charts
    return Body("".join(parts), charts, status)


FLOW_SERIES = 7  # cohorts drawn in their own colour in a stacked chart; the rest are "other"
OTHER = "#9aa4ae"


def top_and_other(weights: dict[str, float], n: int = FLOW_SERIES) -> tuple[list[str], list[str]]:
    """The ``n`` heaviest names (heaviest first) and the rest, so a stack keeps readable colours."""
    ranked = sorted(weights, key=lambda k: (-weights[k], k))
    if len(ranked) <= n + 1:
        return ranked, []
    return ranked[:n], ranked[n:]


def _render_history(history: q.CohortHistory | q.Missing) -> tuple[str, list[str]]:
    if isinstance(history, q.Missing):
        return missing_note("cohort-history", history), []
    if not history.rows:
        return empty_note("cohort-history", q.COHORT_SIZES_DAILY, "no build recorded a size yet: run "
                                                                   "<code>msgmetrics build</code>"), []
    recorded = sorted({r[0] for r in history.rows})
    if len(recorded) == 1:
        return note("cohort-history",
                    f"Sizes over time: one day is recorded so far (<strong>{recorded[0]:%b %-d, %Y}</strong>, the "
                    f"sizes above). Every build records its <code>as_of</code> day in "
                    f"<code>{q.COHORT_SIZES_DAILY}</code>; the next days' builds draw the history here, and "
                    "<code>msgmetrics build --as-of D</code> for past days backfills it."), []
    days = all_days(recorded[0], recorded[-1])
    by = {(r[0], r[1]): r for r in history.rows}
    latest = {r[1]: r[2] for r in history.rows}  # rows are ordered by day: the last one wins
    pushed = {n: history.pushed.get(n, True) for n in latest}
    names = sorted(latest, key=lambda n: (not pushed[n], -latest[n], n))
    colors = svg.color_cycle([n for n in names if pushed[n]])
    # the first build that wrote history records everyone as entering: not a day's flow
    flow_days = [r[0] for r in history.rows if (r[3] or 0) or (r[4] or 0)] if history.has_flows else []
    first_build = min(flow_days) if flow_days else None

    def flows(n: str) -> tuple[int, int]:
        return (sum((by[(d, n)][3] or 0) for d in days if (d, n) in by and d != first_build),
                sum((by[(d, n)][4] or 0) for d in days if (d, n) in by and d != first_build))

    minis = []
    for n in names:
        entered, exited = flows(n)
        minis.append(svg.Mini(n if pushed[n] else f"{n} (not pushed)", [by[(d, n)][2] if (d, n) in by else None
                                                                       for d in days],
                              colors.get(n, svg.GREY), note=f"+{entered:,} / −{exited:,}" if history.has_flows else "",
                              muted=not pushed[n]))
    span = f"{days[0]:%b %-d} – {days[-1]:%b %-d, %Y}"
    chart = svg.small_multiples(
        days, minis, kind="multiples", title=f"Cohort sizes per day, {span}",
        desc=f"Members per cohort per day from {days[0]} to {days[-1]}; latest: " + "; ".join(
            f"{n} {latest[n]:,}" for n in names) + ".")
    gaps = " Gaps: no build that day." if len(recorded) < len(days) else ""
    flow_text = (" The numbers at the right are the entries and exits after the first build (which records everyone "
                 "as entering)." if history.has_flows else "")
    html = figure("cohort-history", chart,
                  f"Members of each cohort per day ({span}) at the latest <code>as_of</code> built that day, one "
                  f"panel per cohort, biggest first; dashed and grey: building blocks that are not pushed.{flow_text}"
                  f"{gaps}", q.COHORT_SIZES_DAILY)
    charts = ["cohort-history"]
    weights = {n: sum(flows(n)) for n in names}
    weights = {n: w for n, w in weights.items() if w}
    if not weights:
        if history.has_flows:
            html += note("cohort-flow", "No one has entered or left a cohort since the first build "
                                        f"({first_build:%b %-d, %Y})." if first_build else
                         "No entries or exits recorded yet.")
        return html, charts
    flow_range = [d for d in days if d != first_build and (first_build is None or d > first_build)] or days
    top, rest = top_and_other(weights)
    flow_colors = {n: colors[n] for n in top if n in colors}  # the colours of the panels above
    spare = iter([c for c in svg.LONG_PALETTE if c not in flow_colors.values()])
    flow_colors.update({n: next(spare) for n in top if n not in flow_colors})

    def per_day(group: list[str], column: int) -> list[int]:
        return [sum((by[(d, n)][column] or 0) for n in group if (d, n) in by) for d in flow_range]

    groups = [([n], n if pushed[n] else f"{n} (not pushed)", flow_colors[n]) for n in top] + \
        ([(rest, f"{len(rest)} other cohorts", OTHER)] if rest else [])
    up = [Series(f"{label} entered", color, per_day(group, 3)) for group, label, color in groups]
    down = [Series(f"{label} left", color, per_day(group, 4), opacity=0.5) for group, label, color in groups]
    entered, exited = sum(sum(s.values) for s in up), sum(sum(s.values) for s in down)
    flow = svg.vbar_stacked(
        [svg.day_label(d) for d in flow_range], up, down, kind="diverging",
        legend_items=[(label, color) for _, label, color in groups],
        up_title="▲ entered above zero", down_title="  ▼ left below, lighter",
        category_tips=[f"{d:%Y-%m-%d}" for d in flow_range], height=160 if len(flow_range) < 4 else 220,
        title="People entering and leaving each cohort per day",
        desc=f"Entries above the line and exits below, per as_of day, stacked by cohort, {flow_range[0]} to "
             f"{flow_range[-1]}: {entered:,} entries and {exited:,} exits.")
    since = f" after the first build ({first_build:%b %-d})" if first_build else ""
    html += figure("cohort-flow", flow,
                   f"People who entered a cohort (above the line) and left it (below, lighter) per as_of "
                   f"day{since}, as <code>cohort_membership_history</code> recorded them"
                   + (f"; the {len(top)} cohorts that moved most in colour, the rest grey" if rest else "")
                   + ". These are the warehouse's changes; what Amplitude accepted is in section 3.",
                   q.COHORT_SIZES_DAILY)
    charts.append("cohort-flow")
    return html, charts


# ---------------------------------------------------------------- 2. entries and exits
def flag_label(prop: str, names: dict[str, tuple[str, str]]) -> tuple[str, str, str]:
    """(label, kind, name) of an Amplitude property: cohorts by name, audiences marked as such."""
    kind, name = names.get(prop, ("no longer in the registry", prop))
    label = f"{name} (audience)" if kind == "audience" else name
    return label, kind, name


def render_changes(data: q.PropertyChanges | q.Missing, environments, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("cohort-changes", data), status="empty")
    if not data.rows:
        others = [] if isinstance(environments, q.Missing) else [e for e in environments if e.name != data.environment]
        hint = (f"; the ledger has pushes to {', '.join(esc(e.name) for e in others)}: run <code>msgmetrics report "
                f"--env {esc(others[0].name)}</code>" if others else ": run <code>msgmetrics push</code>")
        return Body(note("cohort-changes",
                         f"No data yet: Amplitude has not accepted any cohort or audience flag for environment "
                         f"<code>{esc(data.environment)}</code> (<code>{q.PROPERTY_LOG}</code>){hint}."),
                    status="empty")
    days = all_days(data.rows[0][0], data.rows[-1][0])
    labels = {prop: flag_label(prop, data.names) for prop in {r[1] for r in data.rows}}
    # cohorts first, then audiences, each by name
    props = sorted(labels, key=lambda p: (labels[p][1] != "cohort", labels[p][1] != "audience", labels[p][0]))
    entries = {(r[0], r[1]): r[2] for r in data.rows}
    exits = {(r[0], r[1]): r[3] for r in data.rows}
    weights = {p: sum(entries.get((d, p), 0) + exits.get((d, p), 0) for d in days) for p in props}
    top, rest = top_and_other(weights)
    colors = svg.color_cycle(top)
    groups = [([p], labels[p][0], colors[p]) for p in top] + \
        ([(rest, f"{len(rest)} other flags", OTHER)] if rest else [])

    def per_day(group: list[str], values: dict) -> list[int]:
        return [sum(values.get((d, p), 0) for p in group) for d in days]

    up = [Series(f"{label} entries", color, per_day(group, entries)) for group, label, color in groups]
    down = [Series(f"{label} exits", color, per_day(group, exits), opacity=0.5) for group, label, color in groups]
    chart = svg.vbar_stacked(
        [svg.day_label(d) for d in days], up, down, kind="diverging",
        legend_items=[(label, color) for _, label, color in groups], up_title="▲ entries ($set) above zero",
        down_title="  ▼ exits ($unset) below, lighter",
        category_tips=[f"{d:%Y-%m-%d}" for d in days],
        title=f"Cohort and audience entries and exits Amplitude accepted per day (environment {data.environment})",
        desc=f"Entries ($set) above the line and exits ($unset) below, per day, stacked by cohort and audience, "
             f"{days[0]} to {days[-1]}, environment {data.environment}.",
        height=160 if len(days) < 4 else 240)
    totals = []
    for p in props:
        e = sum(entries.get((d, p), 0) for d in days)
        x = sum(exits.get((d, p), 0) for d in days)
        label, kind, name = labels[p]
        totals.append([esc(name), esc(kind), f"<code>{esc(p)}</code>", fmt_int(e), fmt_int(x), f"{e - x:+,}"])
    window = (f"the last {data.days_shown} days with pushes" if data.first_day and data.first_day < days[0]
              else "every day since the first push")
    html = figure("cohort-changes", chart,
                  f"Cohort and audience flags Amplitude accepted per day for environment "
                  f"<strong>{esc(data.environment)}</strong> ({window}, by <code>accepted_at</code>, UTC): people "
                  "entering (<code>$set</code>) above the line, leaving (<code>$unset</code>, lighter) below, "
                  "coloured by cohort or audience (named from <code>marts.dim_cohorts</code> and "
                  "<code>marts.dim_audiences</code>)" + (f"; the {len(top)} that moved most in colour, the "
                  "other flags grey; every one is in the table" if rest else "") +
                  ". Dry runs are not in the ledger.", q.PROPERTY_LOG)
    html += table(["name", "kind", "Amplitude property", "entries", "exits", "net"], totals, numeric={3, 4, 5},
                  caption=f"Totals, {days[0]:%b %-d} – {days[-1]:%b %-d, %Y}, environment {esc(data.environment)}")
    return Body(html, ["cohort-changes"])


# ---------------------------------------------------------------- 3. funnels
STEPS = ("delivered", "human open", "human click")


def _funnel_chart(chart_id: str, rows, dimension: str) -> tuple[str, list[str]]:
    shown = [r for r in rows if r[2] > 0]
    left_out = [r for r in rows if r[2] == 0]
    if not shown:
        return "", [f"{esc(r[0])} ({r[1]:,} sent)" for r in left_out]
    groups, notes = [], {}
    for grp, sent, delivered, opened, clicked in shown:
        groups.append((grp, list(zip(STEPS, (delivered, opened, clicked)))))
        notes[(grp, "delivered")] = f"{delivered:,} of {sent:,} sent ({fmt_pct(delivered / sent if sent else None)})"
        if opened == 0 and clicked > 0:
            notes[(grp, "human open")] = "0 · no opens reported (not tracked)"
    chart = svg.funnel(
        groups, notes=notes, kind="funnel", colors=(BLUE, SKY, GREEN),
        title=f"Delivered → human open → human click, by {dimension}",
        desc="; ".join(f"{g}: {d:,} delivered, {o:,} human opens ({fmt_pct(o / d)}), {c:,} human clicks ({fmt_pct(c / d)})"
                       for g, s, d, o, c in shown))
    return chart, [f"{esc(r[0])} ({r[1]:,} sent, none delivered)" for r in left_out]


FUNNEL_CAPTIONS = {
    "channel": "",
    "intent": (" Intent comes from <code>marts.dim_message_intents</code> (the seed mapping, then name patterns); "
               f"<code>{q.NO_INTENT}</code>: messages nothing gives an intent (see the section on them)."),
    "parent_type": "",
}


def render_funnels(by_channel, by_intent, matrix, by_parent, opts: Options) -> Body:
    inputs = (by_channel, by_intent, by_parent)
    if all(isinstance(d, q.Missing) for d in inputs) and by_channel == by_parent:
        return Body(missing_note("funnels", by_channel), status="empty")
    if all(d == [] for d in inputs):
        return Body(empty_note("funnels", q.DELIVERIES, f"no deliveries loaded yet: {LOAD_HINT}"), status="empty")
    parts, charts = [], []
    for chart_id, data, dimension in (("funnel-channel", by_channel, "channel"),
                                      ("funnel-intent", by_intent, "intent"),
                                      ("funnel-matrix", matrix, None),
                                      ("funnel-parent-type", by_parent, "parent_type")):
        if isinstance(data, q.Missing):
            parts.append(missing_note(chart_id, data))
            continue
        if not data:
            parts.append(empty_note(chart_id, q.DELIVERIES, f"no deliveries loaded yet: {LOAD_HINT}"))
            continue
        if dimension is None:
            html = render_intents.matrix_figure(chart_id, data)
            if html:
                parts.append(html)
                charts.append(chart_id)
            continue
        chart, left_out = _funnel_chart(chart_id, data, dimension)
        if not chart:
            parts.append(note(chart_id, f"No delivered messages yet in <code>{q.DELIVERIES}</code>."))
            continue
        extra = f" Not shown (nothing delivered): {', '.join(left_out)}." if left_out else ""
        sources = [q.DELIVERIES, q.MESSAGE_INTENTS] if dimension == "intent" else q.DELIVERIES
        parts.append(figure(chart_id, chart,
                            f"Deliveries per <code>{dimension}</code> that were delivered, then opened by a person "
                            "(not a prefetch) and clicked by a person (not a machine click); bar lengths and "
                            f"percentages are shares of that {dimension}'s delivered messages, so large and small "
                            f"{dimension}s compare by rate.{FUNNEL_CAPTIONS[dimension]}{extra}", sources))
        charts.append(chart_id)
    return Body("".join(parts), charts, "ok" if charts else "empty")


# ---------------------------------------------------------------- 4. machine vs human
def render_machine(data: q.MachineHuman | q.Missing, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("machine-opens", data), status="empty")
    if not data.weeks:
        return Body(empty_note("machine-opens", q.EVENTS, "no opens or clicks loaded yet"), status="empty")
    weeks = [w[0] for w in data.weeks]
    labels = [svg.day_label(w) for w in weeks]
    tips = [f"week of {w:%Y-%m-%d}" for w in weeks]
    parts, charts = [], []
    total_opens = sum(w[1] + w[2] for w in data.weeks)
    if total_opens:
        human = Series("human opens", HUMAN, [w[1] for w in data.weeks])
        machine = Series("machine opens (prefetched)", MACHINE, [w[2] for w in data.weeks])

        def share(i):
            t = data.weeks[i][1] + data.weeks[i][2]
            return f"{data.weeks[i][2] / t:.0%}" if t else ""

        chart = svg.vbar_stacked(labels, [human, machine], normalise=True, kind="stacked-share",
                                 category_tips=tips, annotate=share, height=200, y_title="share of opens",
                                 title="Share of opens that were machine (prefetched) opens, per week",
                                 desc="Per week: " + "; ".join(
                                     f"{tips[i]}: {share(i)} machine of {w[1] + w[2]:,} opens"
                                     for i, w in enumerate(data.weeks)))
        machine_total = sum(w[2] for w in data.weeks)
        parts.append(figure("machine-opens", chart,
                            f"Opens per week (Monday start; the first and last weeks may be partial), split into "
                            f"human opens and machine opens (<code>is_prefetched</code>: Apple Mail Privacy "
                            f"Protection and the like); the label is the machine share. Overall "
                            f"{fmt_pct(machine_total / total_opens)} of {total_opens:,} opens were machine opens.",
                            q.EVENTS))
        charts.append("machine-opens")
    else:
        parts.append(note("machine-opens", f"No opens yet in <code>{q.EVENTS}</code>."))
    total_clicks = sum(w[3] + w[4] for w in data.weeks)
    if total_clicks:
        human = Series("human clicks", HUMAN, [w[3] for w in data.weeks])
        machine = Series("machine clicks (is_machine)", MACHINE, [w[4] for w in data.weeks])
        chart = svg.vbar_stacked(labels, [human, machine], kind="stacked", category_tips=tips, height=200,
                                 y_title="clicks",
                                 title="Human and machine clicks per week",
                                 desc="Per week: " + "; ".join(f"{tips[i]}: {w[3]:,} human, {w[4]:,} machine clicks"
                                                               for i, w in enumerate(data.weeks)))
        parts.append(figure("machine-clicks", chart,
                            "Clicks per week: human clicks and machine clicks (<code>is_machine</code>: link "
                            "scanners and security gateways), which msgmetrics leaves out of human click counts "
                            "and cohorts.", q.EVENTS))
        charts.append("machine-clicks")
        rows = [[esc(ch), fmt_int(h), fmt_int(m), fmt_pct(m / (h + m) if h + m else None)]
                for ch, h, m in data.clicks_by_channel]
        parts.append(table(["channel", "human clicks", "machine clicks", "machine share"], rows,
                           numeric={1, 2, 3}, caption="Clicks by channel, all time"))
    else:
        parts.append(note("machine-clicks", f"No clicks yet in <code>{q.EVENTS}</code>."))
    return Body("".join(parts), charts, "ok" if charts else "empty")


# ---------------------------------------------------------------- 5. identity coverage
RESOLVED_COLORS = (GREEN, BLUE, SKY)
UNRESOLVED_COLORS = (ORANGE, VERMILLION, PURPLE, YELLOW, "#7f7f7f")


def render_identity(data, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("identity-coverage", data), status="empty")
    if not data:
        return Body(empty_note("identity-coverage", q.IDENTITY_COVERAGE, "no people or events yet"), status="empty")
    measures = list(dict.fromkeys(r[0] for r in data))
    resolved = list(dict.fromkeys(r[1] for r in data if r[2]))
    unresolved = list(dict.fromkeys(r[1] for r in data if not r[2]))
    colors = {**svg.color_cycle(resolved, RESOLVED_COLORS), **svg.color_cycle(unresolved, UNRESOLVED_COLORS)}
    n = {(r[0], r[1]): r[3] for r in data}
    series = [Series(o, colors[o], [n.get((m, o), 0) for m in measures]) for o in [*resolved, *unresolved]]
    totals = {m: sum(n.get((m, o), 0) for o in [*resolved, *unresolved]) for m in measures}
    ok = {m: sum(n.get((m, o), 0) for o in resolved) for m in measures}
    chart = svg.hbar_stacked(
        measures, series, normalise=True, kind="hbar-share",
        total_label=lambda i: f"{fmt_pct(ok[measures[i]] / totals[measures[i]] if totals[measures[i]] else None)} resolved",
        title="Identity coverage: share of people and events that resolve to an Amplitude user id",
        desc="; ".join(f"{m}: {ok[m]:,} of {totals[m]:,} resolved" for m in measures))
    html = figure("identity-coverage", chart,
                  "Share of people and of message events that resolve to an Amplitude user id (blue/green: "
                  "resolved, by rule) and why the rest do not (orange/red); unresolved people are never pushed.",
                  q.IDENTITY_COVERAGE)
    rows = [[esc(m), esc(o), "yes" if res else "no", fmt_int(k), fmt_pct(s)] for m, o, res, k, s in data]
    html += table(["measure", "outcome", "resolved", "n", "share"], rows, numeric={3, 4})
    return Body(html, ["identity-coverage"])


# ---------------------------------------------------------------- 6. freshness
NAMES_SOURCE = "api_names"  # App API message names: shown, but not part of the overall badge


def _freshness_measures(data: q.Freshness) -> list[tuple[str, str, str | list[str], object, str, bool]]:
    """(label, column, table(s), value, key, counts for the overall badge)."""
    measures = [("newest event", "max(occurred_at)", q.EVENTS, data.newest_event, "newest_event", True)]
    if len([t for t in data.event_sources if t.newest_event]) > 1:
        measures += [(f"newest event: {source_label(t.event_source)}", f"max(occurred_at) where event_source = "
                      f"'{t.event_source}'", q.EVENTS, t.newest_event, "newest_event", True)
                     for t in data.event_sources if t.newest_event]
    measures.append(("newest load", "max(loaded_at)", q.EVENTS, data.newest_load, "newest_load", True))
    for load in data.sources:
        measures.append((f"{load.source.label} loaded", "max(_loaded_at)", list(load.tables), load.newest_loaded_at,
                         f"source:{load.source.key}", load.source.key != NAMES_SOURCE))
    measures.append(("cohorts as_of", "as_of", q.COHORT_MEMBERSHIP, data.as_of, "as_of", True))
    return measures


def _tables_code(tables: str | list[str], column: str) -> str:
    if isinstance(tables, str):
        return f"<code>{esc(tables)}.{esc(column)}</code>"
    if len(tables) == 1:
        return f"<code>{esc(tables[0])}</code> <code>{esc(column)}</code>"
    schema = tables[0].split(".")[0]
    names = ", ".join(t.split(".", 1)[1] for t in tables)
    return f"<code>{esc(schema)}.{{{esc(names)}}}</code> <code>{esc(column)}</code>"


def render_freshness(data: q.Freshness, opts: Options) -> Body:
    bars, rows, levels = [], [], []
    for label, column, source, value, key, counts in _freshness_measures(data):
        if value is None:
            why = "table missing: run msgmetrics build" if key in data.missing else "no rows yet"
            bars.append((label, None, "unknown", why))
            rows.append([esc(label), _tables_code(source, column), "–", "–", badge("unknown", "unknown")])
            continue
        age = opts.now - value
        lvl = level_for(age, opts)
        if counts:
            levels.append(lvl)
        bars.append((label, max(age.total_seconds() / 3600, 0), lvl, f"{fmt_age(age)} ({fmt_ts(value)})"))
        rows.append([esc(label), _tables_code(source, column), esc(fmt_ts(value)), esc(fmt_age(age)),
                     badge(lvl, LEVEL_WORDS[lvl])])
    overall = max(levels, key=["green", "amber", "red"].index) if levels else "unknown"
    amber_h, red_h = opts.amber_after.total_seconds() / 3600, opts.red_after.total_seconds() / 3600
    intro = (f'<p class="lead">{badge(overall, "overall: " + LEVEL_WORDS[overall])} '
             f"Ages relative to the report time {esc(fmt_ts(opts.now))}: fresh up to {amber_h:g} h, ageing up to "
             f"{red_h:g} h, stale after that. The overall badge is the worst of them (message names excepted). "
             "A source's <em>loaded</em> time is when data last arrived from it: a load that found nothing new "
             "does not move it.</p>")
    if not levels:
        html = intro + note("freshness", f"No data yet: nothing loaded or built: {LOAD_HINT}.")
        html += table(["measure", "column", "value", "age", "status"], rows, nowrap={2, 3})
        return Body(html, [], "empty", overall)
    chart = svg.age_bars(bars, amber_hours=amber_h, red_hours=red_h, colors=LEVEL_COLORS, kind="ages",
                         title="Data freshness: the newest event and load, each source's last load, the cohorts' as_of",
                         desc="; ".join(f"{b[0]}: {b[3]}, {LEVEL_WORDS[b[2]]}" for b in bars))
    raw = [t for load in data.sources for t in load.tables]
    html = intro + figure("freshness", chart,
                          "How old the newest event, the newest load, the last data from each raw source present "
                          "(webhooks, App API, Data Warehouse Sync, orders) and the cohorts' <code>as_of</code> are "
                          "(log scale; dashed lines at the ageing and stale thresholds).",
                          [q.EVENTS, q.COHORT_MEMBERSHIP] + (["raw_*._loaded_at"] if raw else []))
    html += table(["measure", "column", "value", "age", "status"], rows, nowrap={2, 3})
    return Body(html, ["freshness"], "ok", overall)


# ---------------------------------------------------------------- 7. runs
def _run_summary(r: dict, environment: str, accepted: dict[str, q.Push]) -> tuple[str, str, str]:
    loaded = r.get("loaded") or {}
    built = r.get("dbt_results") or {}
    pushed = r.get("pushed") or {}
    lo = ", ".join(f"{t.split('.')[-1]} +{(v or {}).get('rows_added', 0):,}" for t, v in loaded.items()
                   if isinstance(v, dict))
    bu = ", ".join(f"{n} {s}" for s, n in sorted(built.items())) if isinstance(built, dict) else ""
    if bu and r.get("as_of"):
        bu += f" (as of {r['as_of']})"
    pu = ""
    env = r.get("push_environment")
    if env is not None and env != environment:
        pu = f"to environment {env} (not shown: msgmetrics report --env {env})"
    elif isinstance(pushed, dict) and pushed:
        push = accepted.get(r.get("push_run_id"))
        if push is not None:  # what Amplitude accepted, from the ledger
            pu = f"{push.events_accepted:,} events, {push.sets_accepted:,} $set, {push.unsets_accepted:,} $unset"
        else:
            pu = (f"{pushed.get('events_accepted', 0):,} events, {pushed.get('property_sets_planned', 0):,} $set, "
                  f"{pushed.get('property_unsets_planned', 0):,} $unset")
        if pushed.get("dry_run"):
            pu = f"dry run: would send {pushed.get('events_planned', 0):,} events, " \
                 f"{pushed.get('property_sets_planned', 0):,} $set, {pushed.get('property_unsets_planned', 0):,} $unset"
        rejected = (pushed.get("events_rejected") or 0) + (pushed.get("identifications_rejected") or 0)
        if rejected:
            pu += f"; {rejected:,} dead-lettered"
    return lo, bu, pu


TABLE_RUNS = 10


def _push_chart(pushes: list[q.Push], environment: str) -> str:
    labels = [f"{p.started_at:%b %-d %H:%M}" if p.started_at else p.run_id for p in pushes]
    series = [Series("events accepted", BLUE, [p.events_accepted for p in pushes]),
              Series("$set accepted (entries)", GREEN, [p.sets_accepted for p in pushes]),
              Series("$unset accepted (exits)", ORANGE, [p.unsets_accepted for p in pushes]),
              Series("events dead-lettered", VERMILLION, [p.events_rejected for p in pushes])]
    chart = svg.hbar_stacked(
        labels, series, kind="hbar",
        title=f"What each push to environment {environment} delivered to Amplitude",
        desc="; ".join(f"push {labels[i]}: {p.events_accepted:,} events, {p.sets_accepted:,} $set, "
                       f"{p.unsets_accepted:,} $unset accepted, {p.events_rejected:,} dead-lettered"
                       for i, p in enumerate(pushes)),
        total_label=lambda i: f"{pushes[i].status or '?'}")
    n = len(pushes)
    return figure("pushes", chart,
                  (f"The last {n} pushes" if n > 1 else "The one push") +
                  f" to environment <strong>{esc(environment)}</strong> (dry runs send nothing and are left out), "
                  "oldest at the top: events Amplitude accepted, cohort and audience flags it accepted "
                  "(<code>$set</code> entries, <code>$unset</code> exits, from the ledger) and events "
                  "dead-lettered; the label is the push's status.", [q.PUSH_RUNS, q.PROPERTY_LOG])


def render_runs(data, pushes, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("runs", data), status="empty")
    if not data.rows:
        return Body(empty_note("runs", q.RUNS, "no command has finished yet"), status="empty")
    accepted = {} if isinstance(pushes, q.Missing) else {p.run_id: p for p in pushes}
    cols, rows = [], []
    for r in data.rows:
        start, end = r.get("started_at"), r.get("finished_at")
        duration = (end - start).total_seconds() if start and end else 0
        lo, bu, pu = _run_summary(r, data.environment, accepted)
        when = f"{start:%b %-d %H:%M}" if start else "?"
        status = r.get("status") or "unknown"
        cols.append({"status": status, "command": r.get("command") or "?", "duration_s": duration,
                     "label": f"{r.get('command') or '?'} · {when}", "when": when,
                     "summary": "; ".join(x for x in (lo and "loaded " + lo, bu and "built " + bu,
                                                       pu and "pushed " + pu, r.get("error")) if x)})
        err = r.get("error") or ""
        rows.append([esc(f"{start:%Y-%m-%d %H:%M}" if start else "–"), esc(r.get("command") or ""),
                     f'<span class="status status-{esc(status)}">{esc(status)}</span>',
                     f"{duration:,.1f} s", esc(lo), esc(bu), esc(pu),
                     f'<span title="{esc(err)}">{esc(err[:80] + ("…" if len(err) > 80 else ""))}</span>'])
    n = len(data.rows)
    chart = svg.run_columns(cols, colors=STATUS_COLORS, kind="runs",
                            title=f"The last {n} run{'s' if n != 1 else ''} by status and duration",
                            desc="; ".join(f"{c['label']}: {c['status']}, {c['duration_s']:.0f} s" for c in cols))
    html = figure("runs", chart,
                  (f"The last {n} msgmetrics commands that changed the warehouse, oldest on the left; " if n > 1 else
                   "The one msgmetrics command recorded so far; ") +
                  "column height is the duration, colour and letter the status (S success, P partial: some "
                  "records dead-lettered, F failed).", q.RUNS)
    charts = ["runs"]
    if isinstance(pushes, q.Missing):
        html += missing_note("pushes", pushes)
    elif not pushes:
        html += note("pushes", f"No push to environment <code>{esc(data.environment)}</code> yet "
                               f"(<code>{q.PUSH_RUNS}</code>).")
    else:
        html += _push_chart(pushes, data.environment)
        charts.append("pushes")
    newest = list(reversed(rows))[:TABLE_RUNS]
    more = (f" (the chart shows {len(rows)}; <code>msgmetrics status --limit N</code> lists more)"
            if len(rows) > TABLE_RUNS else "")
    html += table(["started (UTC)", "command", "status", "took", "loaded", "built",
                   f"pushed (to {esc(data.environment)})", "error"],
                  newest, numeric={3}, nowrap={0, 1, 2},
                  caption=f"The {len(newest)} newest runs{more}" if len(newest) > 1 else "The run")
    return Body(html, charts)


# ---------------------------------------------------------------- 8. daily volume
def render_volume(data, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("daily-volume", data), status="empty")
    if not data:
        return Body(empty_note("daily-volume", q.METRICS_DAILY, f"no messages loaded yet: {LOAD_HINT}"),
                    status="empty")
    days = all_days(data[0][0], data[-1][0])
    by = {r[0]: r for r in data}
    sends = Series("sends", BLUE, [by[d][1] if d in by else 0 for d in days], area=True)
    deliveries = Series("deliveries", ORANGE, [by[d][2] if d in by else 0 for d in days], dash="5 4")
    clicks = Series("unique human clicks", VERMILLION, [by[d][3] if d in by else 0 for d in days])
    span = f"{days[0]:%b %-d} – {days[-1]:%b %-d, %Y}"
    volume = svg.line_chart(days, [sends, deliveries], kind="line", y_title="messages per day",
                            title="Sends and deliveries per day",
                            desc=f"Sends and deliveries per day, all channels, {span}; "
                                 f"{sum(sends.values):,} sends, {sum(deliveries.values):,} deliveries.")
    click_chart = svg.line_chart(days, [clicks], kind="line", y_title="deliveries with a human click", height=150,
                                 title="Unique human clicks per day",
                                 desc=f"Deliveries with a human click per day, all channels, {span}; "
                                      f"{sum(clicks.values):,} in total.")
    html = figure("daily-volume", volume,
                  f"Messages sent and delivered per UTC day over all channels, {span}.", q.METRICS_DAILY)
    html += figure("daily-clicks", click_chart,
                   "Deliveries with at least one human click that day (same days; its own scale, since clicks are "
                   "far fewer than sends).", q.METRICS_DAILY)
    return Body(html, ["daily-volume", "daily-clicks"])


# ---------------------------------------------------------------- page
@dataclass
class SectionSpec:
    id: str
    title: str
    render: Callable[..., Body]
    inputs: tuple[str, ...]  # keys of the queried data


SECTIONS = (
    SectionSpec("cohorts", "Cohort sizes", render_cohorts, ("cohort_sizes", "cohort_history")),
    SectionSpec("audiences", "Audiences", render_audiences, ("audiences",)),
    SectionSpec("entries-exits", "Entries and exits Amplitude accepted per day", render_changes,
                ("property_changes", "ledger_environments")),
    SectionSpec("funnels", "Funnels by channel and intent", render_funnels,
                ("funnel_channel", "funnel_intent", "funnel_matrix", "funnel_parent_type")),
    SectionSpec("without-intent", "Messages without intent", render_without_intent, ("messages_without_intent",)),
    SectionSpec("machine-human", "Machine vs human opens and clicks", render_machine, ("machine_vs_human",)),
    SectionSpec("identity", "Identity coverage", render_identity, ("identity_coverage",)),
    SectionSpec("sources", "Where the data came from", render_sources, ("sources",)),
    SectionSpec("freshness", "Data freshness", render_freshness, ("freshness",)),
    SectionSpec("runs", "Last runs and what they pushed", render_runs, ("runs", "pushes")),
    SectionSpec("daily-volume", "Daily volume", render_volume, ("daily_volume",)),
)


def render_section(spec: SectionSpec, data: dict, opts: Options) -> Body:
    failed = [data[k] for k in spec.inputs if isinstance(data.get(k), BaseException)]
    if failed:
        exc = failed[0]
        return Body(note(spec.id, f"Could not read this section's data: {esc(type(exc).__name__)}: {esc(exc)}",
                         kind="section-error"), status="error")
    try:
        return spec.render(*(data[k] for k in spec.inputs), opts)
    except Exception as exc:  # one broken section must not cost the whole page
        log.exception("report section %s failed", spec.id)
        return Body(note(spec.id, f"Could not draw this section: {esc(type(exc).__name__)}: {esc(exc)}",
                         kind="section-error"), status="error")


CSS = """
:root { color-scheme: light; --text: #1f2328; --muted: #57606a; --line: #d8dee4; --bg: #ffffff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
header.top { background: #0b3954; color: #fff; padding: 20px 32px 16px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: .2px; }
header.top p { margin: 2px 0; color: #dbe7ef; font-size: 14px; }
header.top code { color: #fff; background: rgba(255,255,255,.12); padding: 1px 5px; border-radius: 4px; }
main { max-width: 1100px; margin: 0 auto; padding: 8px 32px 48px; }
nav.toc { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 18px; margin: 18px 0 8px; }
nav.toc h2 { font-size: 14px; margin: 0 0 4px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 22px; columns: 2; column-gap: 32px; }
nav.toc a { color: #0b5394; text-decoration: none; }
nav.toc a:hover, nav.toc a:focus { text-decoration: underline; }
nav.toc .state { color: var(--muted); font-size: 12px; margin-left: 6px; }
section.report { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 26px; }
section.report h2 { font-size: 21px; margin: 8px 0 10px; }
section.report h2 .num { color: var(--muted); font-weight: 400; margin-right: 6px; }
figure.chart { margin: 10px 0 18px; }
figure.chart .svg-wrap { border: 1px solid var(--line); border-radius: 8px; padding: 10px 8px 4px; background: #fff; }
figure.chart svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; max-width: 960px; }
figcaption .src { white-space: nowrap; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: #eff2f5; padding: 0 4px; border-radius: 3px; }
p.nodata { background: var(--panel); border: 1px dashed #afb8c1; border-radius: 8px; padding: 10px 14px; color: #424a53; }
p.section-error { background: #ffebe9; border: 1px solid #ff8182; border-radius: 8px; padding: 10px 14px; color: #82071e; }
p.lead { margin: 4px 0 8px; }
div.callout { display: flex; gap: 18px; align-items: center; border-radius: 8px; padding: 12px 18px; margin: 10px 0 14px; }
div.callout .big { font-size: 40px; font-weight: 700; line-height: 1; font-variant-numeric: tabular-nums; }
div.callout-ok { background: #dafbe1; border: 1px solid #4ac26b; color: #0f5323; }
div.callout-warn { background: #fff8c5; border: 1px solid #d4a72c; color: #3b2300; }
header.top a { text-decoration: none; }
table.small { border-collapse: collapse; font-size: 13px; margin: 6px 0 18px; }
table.small caption { text-align: left; color: var(--muted); font-size: 13px; padding-bottom: 4px; }
table.small th, table.small td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
table.small th { background: var(--panel); font-weight: 600; }
table.small .nowrap { white-space: nowrap; }
table.small td.num, table.small th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 13px; font-weight: 600; border: 1px solid; }
.badge-green { background: #dafbe1; color: #0f5323; border-color: #4ac26b; }
.badge-amber { background: #fff8c5; color: #6a4300; border-color: #d4a72c; }
.badge-red { background: #ffebe9; color: #82071e; border-color: #ff8182; }
.badge-unknown { background: #eaeef2; color: #424a53; border-color: #afb8c1; }
.status { font-weight: 600; }
.status-success { color: #0f5323; } .status-partial { color: #6a4300; } .status-failed { color: #82071e; }
footer { color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); margin-top: 32px; padding-top: 10px; }
@media (max-width: 800px) { nav.toc ol { columns: 1; } main { padding: 8px 12px 32px; } }
@media print { header.top { background: none; color: #000; } header.top p, header.top code { color: #000; }
  figure.chart, table.small { break-inside: avoid; } }
"""

# Runs after the page is parsed: checks every chart drew (its SVG has geometry) and marks the
# body, so a headless browser (or a person with devtools) can tell the page rendered.
SCRIPT = """
(function () {
  var body = document.body, errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message));
    body.setAttribute('data-rendered', 'error: ' + e.message);
  });
  try {
    var figures = document.querySelectorAll('figure.chart');
    var expected = parseInt(body.getAttribute('data-expected-charts'), 10);
    var missing = [];
    for (var i = 0; i < figures.length; i++) {
      var svg = figures[i].querySelector('svg');
      var box = svg && svg.getBBox ? svg.getBBox() : null;
      if (!box || box.width <= 0 || box.height <= 0) { missing.push(figures[i].getAttribute('data-chart')); }
      // the data marks the browser drew: bars, points and lines that carry a tooltip and have an area
      var marks = svg ? svg.querySelectorAll('rect, circle, polyline') : [], drawn = 0;
      for (var j = 0; j < marks.length; j++) {
        var m = marks[j], b = m.getBBox();
        if (!m.querySelector('title')) { continue; }
        if (m.tagName === 'polyline' ? (b.width > 0 || b.height > 0)
            : (b.width > 0 && b.height > 0 && m.getAttribute('fill-opacity') !== '0')) { drawn++; }
      }
      figures[i].setAttribute('data-marks-drawn', String(drawn));
    }
    if (figures.length !== expected) { throw new Error('expected ' + expected + ' charts, found ' + figures.length); }
    if (missing.length) { throw new Error('charts that did not draw: ' + missing.join(', ')); }
    body.setAttribute('data-charts-rendered', String(figures.length));
    body.setAttribute('data-page-height', String(document.documentElement.scrollHeight));
    if (!errors.length) { body.setAttribute('data-rendered', 'ok'); }
  } catch (e) {
    body.setAttribute('data-rendered', 'error: ' + e.message);
  }
})();
"""


TOC_STATE = {"ok": "", "empty": "· no data yet", "error": "· error"}


def _header_environment(data: dict, opts: Options) -> str:
    text = f"Amplitude environment <code>{esc(opts.environment)}</code>"
    envs = data.get("ledger_environments")
    if isinstance(envs, list) and envs:
        listed = ", ".join(f"{esc(e.name)} ({e.pushes:,} push{'es' if e.pushes != 1 else ''})" for e in envs)
        text += f" · the ledger holds pushes to {listed}"
    elif isinstance(envs, list) or isinstance(envs, q.Missing):
        text += " · nothing pushed yet"
    return text


def _header_intents(data: dict) -> str:
    found = data.get("messages_without_intent")
    if not isinstance(found, q.WithoutIntent):
        return ""
    if found.messages == 0:
        return f' · <a href="#without-intent">{badge("green", "every message has an intent")}</a>'
    return (f' · <a href="#without-intent">'
            f'{badge("amber", f"{found.messages:,} messages without intent")}</a>')


def page(warehouse: str, data: dict, opts: Options, version: str) -> str:
    svg.reset_ids()
    bodies = [(spec, render_section(spec, data, opts)) for spec in SECTIONS]
    charts = [c for _, b in bodies for c in b.charts]
    fresh = next((b.badge for s, b in bodies if s.id == "freshness" and b.badge), "unknown")
    toc = "".join(
        f'<li><a href="#{spec.id}">{esc(spec.title)}</a>'
        f'<span class="state">{TOC_STATE[b.status]}</span></li>'
        for spec, b in bodies)
    sections = "".join(
        f'<section class="report" id="{spec.id}" data-section="{spec.id}" data-status="{b.status}" '
        f'aria-labelledby="{spec.id}-h"><h2 id="{spec.id}-h"><span class="num">{i}.</span>{esc(spec.title)}</h2>'
        f"{b.html}</section>"
        for i, (spec, b) in enumerate(bodies, 1))
    generated = f"{opts.now:%Y-%m-%d %H:%M:%S} UTC"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="msgmetrics {esc(version)}">
<title>msgmetrics report – {esc(warehouse)}</title>
<style>{CSS}</style>
</head>
<body data-rendered="pending" data-expected-charts="{len(charts)}">
<header class="top">
<h1>msgmetrics report</h1>
<p>Warehouse <code>{esc(warehouse)}</code> · generated {esc(generated)} · data freshness
{badge(fresh, LEVEL_WORDS[fresh])}{_header_intents(data)}</p>
<p>{_header_environment(data, opts)}</p>
<p>Customer.io message activity, cohorts and Amplitude pushes, read-only from the DuckDB marts and ledger.</p>
</header>
<main>
<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>
{sections}
<footer>Made by <code>msgmetrics report</code> {esc(version)} from a read-only connection; a static file:
no network, no external fonts or scripts. Hover a bar or point for its exact value.</footer>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
