"""The channel × intent grid of the funnels, and the section on messages without an intent."""

from __future__ import annotations

from . import queries as q
from . import svg
from .blocks import LOAD_HINT, Body, Options, empty_note, fmt_ts, figure, missing_note, table
from .svg import BLUE, GREEN, Panel, esc, fmt_int, fmt_pct

INTENT_ORDER = ("cart", "browse", "post_purchase", "winback", "promo", "other", q.NO_INTENT, q.NO_MESSAGE)


def _order(values, preferred) -> list[str]:
    known = [v for v in preferred if v in values]
    return known + sorted(v for v in values if v not in preferred)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def matrix_figure(chart_id: str, rows) -> str:
    """Human open and human click rates (of delivered) per channel and intent, as two shaded grids."""
    delivered = {(ch, it): d for ch, it, s, d, o, c in rows}
    channel_totals = {}
    for ch, it, s, d, o, c in rows:
        channel_totals[ch] = channel_totals.get(ch, 0) + d
    channels = sorted((ch for ch in channel_totals if channel_totals[ch] > 0), key=lambda ch: -channel_totals[ch])
    intents = _order({it for ch, it, s, d, o, c in rows if d > 0}, INTENT_ORDER)
    if not channels or not intents:
        return ""
    channel_opens = {}
    for ch, it, s, d, o, c in rows:
        channel_opens[ch] = channel_opens.get(ch, 0) + o
    no_opens = [ch for ch in channels if channel_opens.get(ch, 0) == 0]  # e.g. SMS: opens are not tracked
    opens, clicks, open_labels, click_labels, tips, open_tips = {}, {}, {}, {}, {}, {}
    for ch, it, s, d, o, c in rows:
        if d <= 0:
            continue
        key = (ch, it)
        clicks[key] = c / d
        click_labels[key] = fmt_pct(c / d)
        if ch in no_opens:
            open_labels[key] = "no opens"
            open_tips[key] = f"{ch} · {it}: {d:,} delivered; {ch} reports no opens"
        else:
            opens[key] = o / d
            open_labels[key] = fmt_pct(o / d)
        tips[key] = (f"{ch} · {it}: {d:,} delivered, {o:,} human opens ({fmt_pct(o / d)}), "
                     f"{c:,} human clicks ({fmt_pct(c / d)})")
    for ch in channels:
        for it in intents:
            tips.setdefault((ch, it), f"{ch} · {it}: no deliveries")
    open_tips = {**tips, **open_tips}
    chart = svg.heatmap(
        channels, intents,
        [Panel("Human open rate (of delivered)", opens, open_labels, open_tips, color=BLUE),
         Panel("Human click rate (of delivered)", clicks, click_labels, tips, color=GREEN)],
        kind="heatmap", title="Human open and click rates by channel and intent",
        desc="; ".join(f"{ch} {it}: {delivered[(ch, it)]:,} delivered, {open_labels[(ch, it)]} human opens, "
                       f"{click_labels[(ch, it)]} human clicks" for ch in channels for it in intents
                       if (ch, it) in clicks))
    without = (f" {_and([esc(ch) for ch in no_opens])} report{'s' if len(no_opens) == 1 else ''} no opens at all "
               "(not tracked), so their open cells say so." if no_opens else "")
    return figure(chart_id, chart,
                  "The funnel's two rates for every channel and intent: the share of delivered messages a person "
                  "opened (top) and clicked (bottom), darker is higher within each grid; hover a cell for its "
                  "counts. Grey: that channel sends no message of that intent." + without,
                  [q.DELIVERIES, q.MESSAGE_INTENTS])


FIX = ("Give each one an intent: a row in <code>seeds/message_intents.csv</code> (<code>parent_type</code>, "
       "<code>parent_id</code>, optionally <code>action_id</code>, <code>intent</code>) or a name pattern in "
       "<code>seeds/message_intent_patterns.csv</code>, then <code>msgmetrics build</code>.")


def _message_label(row) -> str:
    parent_type, parent_id, action_id, content_id, channel, parent_name, message_name = row[:7]
    ref = f"{parent_type} {parent_id}" + (f" action {action_id}" if action_id else "") + \
          (f" variant {content_id}" if content_id else "")
    name = " / ".join(n for n in (parent_name, message_name) if n)
    return f"<code>{esc(ref)}</code>" + (f" {esc(name)}" if name else " <em>(no name loaded)</em>")


def render_without_intent(data: q.WithoutIntent | q.Missing, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("messages-without-intent", data), status="empty")
    targets = list(dict.fromkeys(u.target for u in data.uses))
    readers = (f"{len(targets)} pushed {'cohorts and audiences filter' if len(targets) > 1 else 'cohort or audience filters'} by intent ("
               + ", ".join(f"<code>{esc(t)}</code>" for t in targets) + ")") if targets else \
        "no pushed cohort or audience filters by intent"
    of_all = f" of {data.all_messages:,}" if data.all_messages is not None else ""
    if data.messages == 0 and data.all_messages == 0:
        return Body(empty_note("messages-without-intent", q.MESSAGE_INTENTS, f"no messages loaded yet: {LOAD_HINT}"),
                    status="empty")
    if data.messages == 0:
        every = (f"Every one of the {data.all_messages:,} messages" if data.all_messages is not None
                 else "Every message")
        html = (f'<div class="callout callout-ok" data-callout="messages-without-intent" data-count="0">'
                f'<span class="big">0</span><div><strong>{every} has an intent.</strong> '
                f"{readers}; they count every message's events.</div></div>")
        return Body(html)
    html = (f'<div class="callout callout-warn" data-callout="messages-without-intent" data-count="{data.messages}">'
            f'<span class="big">{data.messages:,}</span><div><strong>{data.messages:,}{of_all} messages '
            f"({data.deliveries:,} deliveries) have no intent.</strong> Intent filters do not see their events: "
            f"{readers}, so those miss people (or, where the filter leaves people out, keep people in who should "
            f"leave; <code>msgmetrics doctor</code> says which). {FIX}</div></div>")
    rows = [[_message_label(r), esc(r[4] or "–"), fmt_int(r[7]), esc(fmt_ts(r[8]))] for r in data.top]
    more = f" (the {len(rows)} with the most deliveries)" if data.messages > len(rows) else ""
    html += table(["message", "channel", "deliveries", "last seen"], rows, numeric={2}, nowrap={3},
                  caption=f"Messages without intent{more}, from <code>{q.WITHOUT_INTENT}</code>")
    return Body(html)
