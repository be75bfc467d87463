"""What every report section is built from: options, a section's body, figures, notes,
small tables and formatting helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from . import queries as q
from .svg import esc

LEVEL_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00"}
LEVEL_WORDS = {"green": "fresh", "amber": "ageing", "red": "stale", "unknown": "unknown"}
STATUS_COLORS = {"success": "#009E73", "partial": "#E69F00", "failed": "#D55E00", "running": "#56B4E9"}


@dataclass
class Options:
    now: datetime
    amber_after: timedelta
    red_after: timedelta
    runs_limit: int = 20
    environment: str = "default"  # the Amplitude environment whose ledger the push charts show


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


LOAD_HINT = ("run <code>msgmetrics load webhooks PATH</code> (or <code>load api</code>, <code>load dw-sync PATH</code>) "
             "and <code>msgmetrics build</code>")

HINTS = {
    q.PROPERTY_LOG: "nothing was pushed to Amplitude yet: run <code>msgmetrics push</code> "
                    "(or <code>msgmetrics run</code>) after a build",
    q.PUSH_RUNS: "nothing was pushed to Amplitude yet: run <code>msgmetrics push</code> "
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
                "(after <code>msgmetrics load webhooks PATH</code>, <code>load api</code> or "
                "<code>load dw-sync PATH</code>)")
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


def level_for(age: timedelta, opts: Options) -> str:
    if age > opts.red_after:
        return "red"
    if age > opts.amber_after:
        return "amber"
    return "green"


def badge(level: str, text: str) -> str:
    return f'<span class="badge badge-{level}" data-level="{level}">{esc(text)}</span>'
