"""Which Customer.io sources fed the marts: events per source per day, deliveries per mix of sources."""

from __future__ import annotations

from ..source_freshness import EVENT_SOURCE_LABELS
from . import queries as q
from . import svg
from .blocks import LOAD_HINT, Body, Options, all_days, empty_note, figure, missing_note
from .svg import BLUE, GREEN, ORANGE, PURPLE, Series, esc, fmt_pct

SOURCE_COLORS = {"webhook": BLUE, "dw_sync": GREEN, "app_api": ORANGE}


def source_label(event_source: str) -> str:
    return EVENT_SOURCE_LABELS.get(event_source, event_source)


def render_sources(data: q.Sources | q.Missing, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("source-events", data), status="empty")
    if not data.days:
        return Body(empty_note("source-events", q.EVENTS, f"no events loaded yet: {LOAD_HINT}"), status="empty")
    days = all_days(data.days[0][0], data.days[-1][0])
    totals: dict[str, int] = {}
    for _, source, n in data.days:
        totals[source] = totals.get(source, 0) + n
    order = sorted(totals, key=lambda s: (list(SOURCE_COLORS).index(s) if s in SOURCE_COLORS else 99, s))
    by = {(d, s): n for d, s, n in data.days}
    series = [Series(source_label(s), SOURCE_COLORS.get(s, PURPLE), [by.get((d, s), 0) for d in days]) for s in order]
    grand = sum(totals.values())
    shares = ", ".join(f"{esc(source_label(s))} {totals[s]:,} ({fmt_pct(totals[s] / grand)})" for s in order)
    chart = svg.vbar_stacked(
        [svg.day_label(d) for d in days], series, kind="stacked", y_title="events per day", height=200,
        category_tips=[f"{d:%Y-%m-%d}" for d in days],
        title="Message events per day by the source they came from",
        desc=f"Events kept in fct_message_events per day and source, {days[0]} to {days[-1]}: {shares}.")
    html = figure("source-events", chart,
                  f"Events per UTC day (by <code>occurred_on</code>) by the Customer.io source whose report was kept: "
                  f"when several sources report the same fact, the most precise one wins (webhooks, then Data "
                  f"Warehouse Sync, then the App API), so nothing counts twice. All days: {shares}.", q.EVENTS)
    charts = ["source-events"]
    if len(data.deliveries) == 1:
        mix, n = data.deliveries[0]
        html += (f'<p class="lead" data-deliveries-mix="{esc(mix)}">All {n:,} deliveries in <code>{q.DELIVERIES}'
                 f"</code> come from {esc(', '.join(source_label(s.strip()) for s in mix.split(',')))}.</p>")
    elif data.deliveries:
        labels = [", ".join(source_label(s.strip()) for s in mix.split(",")) for mix, _ in data.deliveries]
        total = sum(n for _, n in data.deliveries)
        bars = svg.hbar_stacked(
            labels, [Series("deliveries", BLUE, [n for _, n in data.deliveries])], kind="hbar",
            title="Deliveries by the sources that reported their events",
            desc="; ".join(f"{label}: {n:,}" for label, (_, n) in zip(labels, data.deliveries)),
            total_label=lambda i: f"{data.deliveries[i][1]:,} ({fmt_pct(data.deliveries[i][1] / total)})")
        html += figure("source-deliveries", bars,
                       "Deliveries by the mix of sources their kept events came from (<code>event_sources</code>): "
                       "a delivery reported by two sources has some metrics from each (the most precise per "
                       "metric).", q.DELIVERIES)
        charts.append("source-deliveries")
    return Body(html, charts)
