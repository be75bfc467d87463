"""Turn the queried data into one self-contained HTML page.

Each section renders either charts (``<figure class="chart">`` holding an inline ``<svg>``)
with a caption naming its source table, or a short "no data yet" note that says which
command fills the table. A section that fails renders its error instead of stopping the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable

from . import queries as q
from . import svg
from .svg import BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION, YELLOW, Series, esc, fmt_int, fmt_pct

log = logging.getLogger(__name__)

LEVEL_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00"}
LEVEL_WORDS = {"green": "fresh", "amber": "ageing", "red": "stale", "unknown": "unknown"}
STATUS_COLORS = {"success": "#009E73", "partial": "#E69F00", "failed": "#D55E00", "running": "#56B4E9"}
HUMAN, MACHINE = BLUE, ORANGE


@dataclass
class Options:
    now: datetime
    amber_after: timedelta
    red_after: timedelta
    runs_limit: int = 20


@dataclass
class Body:
    html: str
    charts: list[str] = field(default_factory=list)  # data-chart ids
    status: str = "ok"  # ok | empty | error
    badge: str | None = None  # freshness level, for the header


# ---------------------------------------------------------------- building blocks
def figure(chart_id: str, svg_markup: str, caption: str, source: str | list[str]) -> str:
    sources = [source] if isinstance(source, str) else source
    src = ", ".join(f"<code>{esc(s)}</code>" for s in sources)
    return (f'<figure class="chart" data-chart="{esc(chart_id)}" id="fig-{esc(chart_id)}">'
            f'<div class="svg-wrap">{svg_markup}</div>'
            f'<figcaption>{caption} <span class="src">Source: {src}.</span></figcaption></figure>')


def note(key: str, message: str, kind: str = "nodata") -> str:
    return f'<p class="{kind}" data-{kind}="{esc(key)}">{message}</p>'


HINTS = {
    q.PROPERTY_LOG: "nothing was pushed to Amplitude yet: run <code>msgmetrics push</code> "
                    "(or <code>msgmetrics run</code>) after a build",
    q.RUNS: "no runs recorded yet: every <code>msgmetrics load</code>, <code>build</code>, <code>push</code>, "
            "<code>run</code> and <code>demo</code> records one",
}


def missing_note(key: str, missing: q.Missing) -> str:
    hint = HINTS.get(missing.table)
    if missing.detail:
        text = (f"<code>{esc(missing.table)}</code> exists but {esc(missing.detail)}: run "
                "<code>msgmetrics build</code> with this version of msgmetrics")
    elif hint:
        text = hint
    else:
        text = (f"<code>{esc(missing.table)}</code> does not exist: run <code>msgmetrics build</code> "
                "(after <code>msgmetrics load webhooks PATH</code>)")
    return note(key, f"No data yet: {text}.")


def empty_note(key: str, table: str, what: str) -> str:
    return note(key, f"No data yet: <code>{esc(table)}</code> is empty ({what}).")


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), caption: str = "",
          nowrap: set[int] = frozenset()) -> str:
    def cls(i: int) -> str:
        names = (["num"] if i in numeric else []) + (["nowrap"] if i in nowrap else [])
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f'<th scope="col"{cls(i)}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>" for row in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'<table class="small">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def fmt_ts(value: datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def fmt_age(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    future = seconds < 0
    s = abs(seconds)
    if s < 90:
        text = f"{s:.0f} s"
    elif s < 90 * 60:
        text = f"{s / 60:.0f} min"
    elif s < 48 * 3600:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:.1f} days"
    return f"{text} in the future" if future else f"{text} old"


def all_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


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

    if isinstance(history, q.Missing):
        if history.detail:
            parts.append(missing_note("cohort-history", history))
        else:
            parts.append(note("cohort-history",
                              "No history yet: sizes over time need a table <code>marts.cohort_sizes_daily(day, "
                              "cohort_name, members)</code> (or <code>marts.cohort_membership_history</code> with "
                              "<code>as_of</code>, <code>cohort_name</code>); once a model builds it, a line chart "
                              "appears here."))
    elif not history.rows:
        parts.append(empty_note("cohort-history", history.table, "no days recorded yet"))
    else:
        days = all_days(history.rows[0][0], history.rows[-1][0])
        names = sorted({r[1] for r in history.rows})
        colors = svg.color_cycle(names)
        by = {(r[0], r[1]): r[2] for r in history.rows}
        series = [Series(n, colors[n], [by.get((d, n)) for d in days]) for n in names]
        chart = svg.line_chart(days, series, kind="line", y_title="members",
                               title="Cohort sizes per day",
                               desc=f"Members per cohort per day from {days[0]} to {days[-1]}.")
        parts.append(figure("cohort-history", chart,
                            f"Members per cohort per day, {days[0]:%b %d} – {days[-1]:%b %d, %Y} "
                            "(gaps: no size recorded that day).", history.table))
        charts.append("cohort-history")
    return Body("".join(parts), charts, status)


# ---------------------------------------------------------------- 2. entries and exits
def render_changes(data: q.PropertyChanges | q.Missing, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("cohort-changes", data), status="empty")
    if not data.rows:
        return Body(empty_note("cohort-changes", q.PROPERTY_LOG,
                               "Amplitude has not accepted any cohort flag yet: run <code>msgmetrics push</code>"),
                    status="empty")
    days = all_days(data.rows[0][0], data.rows[-1][0])
    cohorts = sorted({r[1] for r in data.rows})
    colors = svg.color_cycle(cohorts)
    entries = {(r[0], r[1]): r[2] for r in data.rows}
    exits = {(r[0], r[1]): r[3] for r in data.rows}
    up = [Series(f"{c} entries", colors[c], [entries.get((d, c), 0) for d in days]) for c in cohorts]
    down = [Series(f"{c} exits", colors[c], [exits.get((d, c), 0) for d in days], opacity=0.5) for c in cohorts]
    chart = svg.vbar_stacked(
        [svg.day_label(d) for d in days], up, down, kind="diverging",
        legend_items=[(c, colors[c]) for c in cohorts], up_title="▲ entries ($set) above zero", down_title="  ▼ exits ($unset) below, lighter",
        category_tips=[f"{d:%Y-%m-%d}" for d in days],
        title="Cohort entries and exits accepted by Amplitude per day",
        desc=f"Entries ($set) above the line and exits ($unset) below, per day, stacked by cohort, {days[0]} to {days[-1]}.",
        height=160 if len(days) < 4 else 240)
    totals = []
    for c in cohorts:
        e = sum(entries.get((d, c), 0) for d in days)
        x = sum(exits.get((d, c), 0) for d in days)
        totals.append([esc(c), fmt_int(e), fmt_int(x), f"{e - x:+,}"])
    window = (f"the last {data.days_shown} days with pushes" if data.first_day and data.first_day < days[0]
              else "every day since the first push")
    html = figure("cohort-changes", chart,
                  f"Cohort flags Amplitude accepted per day ({window}, by <code>accepted_at</code>, UTC): "
                  "people entering a cohort (<code>$set</code>) above the line, leaving it (<code>$unset</code>, "
                  "lighter) below, coloured by cohort. Dry runs are not in the ledger.", q.PROPERTY_LOG)
    html += table(["cohort", "entries", "exits", "net"], totals, numeric={1, 2, 3},
                  caption=f"Totals, {days[0]:%b %d} – {days[-1]:%b %d, %Y}")
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


def render_funnels(by_channel, by_parent, opts: Options) -> Body:
    if isinstance(by_channel, q.Missing) and by_channel == by_parent:
        return Body(missing_note("funnels", by_channel), status="empty")
    if by_channel == [] and by_parent == []:
        return Body(empty_note("funnels", q.DELIVERIES, "no deliveries loaded yet: run <code>msgmetrics load "
                                                         "webhooks PATH</code> and <code>msgmetrics build</code>"),
                    status="empty")
    parts, charts = [], []
    for chart_id, data, dimension in (("funnel-channel", by_channel, "channel"),
                                      ("funnel-parent-type", by_parent, "parent_type")):
        if isinstance(data, q.Missing):
            parts.append(missing_note(chart_id, data))
            continue
        if not data:
            parts.append(empty_note(chart_id, q.DELIVERIES, "no deliveries loaded yet: run <code>msgmetrics load "
                                                            "webhooks PATH</code> and <code>msgmetrics build</code>"))
            continue
        chart, left_out = _funnel_chart(chart_id, data, dimension)
        if not chart:
            parts.append(note(chart_id, f"No delivered messages yet in <code>{q.DELIVERIES}</code>."))
            continue
        extra = f" Not shown (nothing delivered): {', '.join(left_out)}." if left_out else ""
        parts.append(figure(chart_id, chart,
                            f"Deliveries per <code>{dimension}</code> that were delivered, then opened by a person "
                            "(not a prefetch) and clicked by a person (not a machine click); bar lengths and "
                            f"percentages are shares of that {dimension}'s delivered messages, so large and small "
                            f"{dimension}s compare by rate.{extra}", q.DELIVERIES))
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
def level_for(age: timedelta, opts: Options) -> str:
    if age > opts.red_after:
        return "red"
    if age > opts.amber_after:
        return "amber"
    return "green"


def badge(level: str, text: str) -> str:
    return f'<span class="badge badge-{level}" data-level="{level}">{esc(text)}</span>'


def render_freshness(data: q.Freshness, opts: Options) -> Body:
    measures = [
        ("newest event", "max(occurred_at)", q.EVENTS, data.newest_event, "newest_event"),
        ("newest load", "max(loaded_at)", q.EVENTS, data.newest_load, "newest_load"),
        ("cohorts as_of", "as_of", q.COHORT_MEMBERSHIP, data.as_of, "as_of"),
    ]
    bars, rows, levels = [], [], []
    for label, column, source, value, key in measures:
        if value is None:
            why = "table missing: run msgmetrics build" if key in data.missing else "no rows yet"
            bars.append((label, None, "unknown", why))
            rows.append([esc(label), f"<code>{esc(source)}.{esc(column)}</code>", "–", "–",
                         badge("unknown", "unknown")])
            continue
        age = opts.now - value
        lvl = level_for(age, opts)
        levels.append(lvl)
        bars.append((label, max(age.total_seconds() / 3600, 0), lvl, f"{fmt_age(age)} ({fmt_ts(value)})"))
        rows.append([esc(label), f"<code>{esc(source)}.{esc(column)}</code>", esc(fmt_ts(value)), esc(fmt_age(age)),
                     badge(lvl, LEVEL_WORDS[lvl])])
    overall = max(levels, key=["green", "amber", "red"].index) if levels else "unknown"
    amber_h, red_h = opts.amber_after.total_seconds() / 3600, opts.red_after.total_seconds() / 3600
    intro = (f'<p class="lead">{badge(overall, "overall: " + LEVEL_WORDS[overall])} '
             f"Ages relative to the report time {esc(fmt_ts(opts.now))}: fresh up to {amber_h:g} h, ageing up to "
             f"{red_h:g} h, stale after that. The overall badge is the worst of the three.</p>")
    if not levels:
        html = intro + note("freshness", "No data yet: nothing loaded or built: run <code>msgmetrics load webhooks "
                                         "PATH</code> and <code>msgmetrics build</code>.")
        html += table(["measure", "column", "value", "age", "status"], rows)
        return Body(html, [], "empty", overall)
    chart = svg.age_bars(bars, amber_hours=amber_h, red_hours=red_h, colors=LEVEL_COLORS, kind="ages",
                         title="Data freshness: age of the newest event, the newest load and the cohorts' as_of",
                         desc="; ".join(f"{b[0]}: {b[3]}, {LEVEL_WORDS[b[2]]}" for b in bars))
    html = intro + figure("freshness", chart,
                          "How old the newest event, the newest load and the cohorts' <code>as_of</code> are "
                          "(log scale; dashed lines at the ageing and stale thresholds).",
                          [f"{q.EVENTS}", f"{q.COHORT_MEMBERSHIP}"])
    html += table(["measure", "column", "value", "age", "status"], rows)
    return Body(html, ["freshness"], "ok", overall)


# ---------------------------------------------------------------- 7. runs
def _run_summary(r: dict) -> tuple[str, str, str]:
    loaded = r.get("loaded") or {}
    built = r.get("dbt_results") or {}
    pushed = r.get("pushed") or {}
    lo = ", ".join(f"{t.split('.')[-1]} +{(v or {}).get('rows_added', 0):,}" for t, v in loaded.items()
                   if isinstance(v, dict))
    bu = ", ".join(f"{n} {s}" for s, n in sorted(built.items())) if isinstance(built, dict) else ""
    if bu and r.get("as_of"):
        bu += f" (as of {r['as_of']})"
    pu = ""
    if isinstance(pushed, dict) and pushed:
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


def render_runs(data, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("runs", data), status="empty")
    if not data:
        return Body(empty_note("runs", q.RUNS, "no command has finished yet"), status="empty")
    cols, rows = [], []
    for r in data:
        start, end = r.get("started_at"), r.get("finished_at")
        duration = (end - start).total_seconds() if start and end else 0
        lo, bu, pu = _run_summary(r)
        when = f"{start:%b %d %H:%M}" if start else "?"
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
    n = len(data)
    chart = svg.run_columns(cols, colors=STATUS_COLORS, kind="runs",
                            title=f"The last {n} run{'s' if n != 1 else ''} by status and duration",
                            desc="; ".join(f"{c['label']}: {c['status']}, {c['duration_s']:.0f} s" for c in cols))
    html = figure("runs", chart,
                  (f"The last {n} msgmetrics commands that changed the warehouse, oldest on the left; " if n > 1 else
                   "The one msgmetrics command recorded so far; ") +
                  "column height is the duration, colour and letter the status (S success, P partial: some "
                  "records dead-lettered, F failed).", q.RUNS)
    newest = list(reversed(rows))[:TABLE_RUNS]
    more = (f" (the chart shows {len(rows)}; <code>msgmetrics status --limit N</code> lists more)"
            if len(rows) > TABLE_RUNS else "")
    html += table(["started (UTC)", "command", "status", "took", "loaded", "built", "pushed", "error"],
                  newest, numeric={3}, nowrap={0, 1, 2},
                  caption=f"The {len(newest)} newest runs{more}" if len(newest) > 1 else "The run")
    return Body(html, ["runs"])


# ---------------------------------------------------------------- 8. daily volume
def render_volume(data, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("daily-volume", data), status="empty")
    if not data:
        return Body(empty_note("daily-volume", q.METRICS_DAILY, "no messages loaded yet: run <code>msgmetrics load "
                                                               "webhooks PATH</code> and <code>msgmetrics build</code>"),
                    status="empty")
    days = all_days(data[0][0], data[-1][0])
    by = {r[0]: r for r in data}
    sends = Series("sends", BLUE, [by[d][1] if d in by else 0 for d in days], area=True)
    deliveries = Series("deliveries", ORANGE, [by[d][2] if d in by else 0 for d in days], dash="5 4")
    clicks = Series("unique human clicks", VERMILLION, [by[d][3] if d in by else 0 for d in days])
    span = f"{days[0]:%b %d} – {days[-1]:%b %d, %Y}"
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
    SectionSpec("entries-exits", "Cohort entries and exits per day", render_changes, ("property_changes",)),
    SectionSpec("funnels", "Channel funnels", render_funnels, ("funnel_channel", "funnel_parent_type")),
    SectionSpec("machine-human", "Machine vs human opens and clicks", render_machine, ("machine_vs_human",)),
    SectionSpec("identity", "Identity coverage", render_identity, ("identity_coverage",)),
    SectionSpec("freshness", "Data freshness", render_freshness, ("freshness",)),
    SectionSpec("runs", "Last runs and what they pushed", render_runs, ("runs",)),
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
{badge(fresh, LEVEL_WORDS[fresh])}</p>
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
