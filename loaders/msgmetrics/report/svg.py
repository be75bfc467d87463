"""Small inline-SVG charts, written as strings: no JavaScript, no charting library.

Every chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (what screen readers
announce) and a ``<title>`` on each bar or point (the browser's tooltip). Sizes are in a fixed
viewBox ``WIDTH`` wide; the page scales the SVG to its column.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); every colour is also named in a legend or a label, never the only cue.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Callable, Iterable, Sequence

WIDTH = 960
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', 'Liberation Sans', sans-serif"
TEXT = "#1f2328"
MUTED = "#57606a"
GRID = "#d8dee4"

# Okabe-Ito, reordered so neighbours contrast.
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, GREY = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#7f7f7f",
)
PALETTE = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, GREY)
# More than eight series: Paul Tol's "muted" scheme after Okabe-Ito (also told apart with the
# common colour-vision deficiencies), so no two of up to 17 series share a colour.
LONG_PALETTE = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW,
                "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
                GREY)

_ids = itertools.count(1)


def reset_ids() -> None:
    """Element ids restart per page, so the same data gives the same markup."""
    global _ids
    _ids = itertools.count(1)


def esc(value) -> str:
    return escape(str(value), quote=True)


def fmt_int(n) -> str:
    return f"{int(round(n or 0)):,}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}%}"


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ink(background: str) -> str:
    """White or near-black text, whichever contrasts more with ``background`` (WCAG ratio)."""
    bg = _luminance(background)
    on_white = 1.05 / (bg + 0.05)
    on_dark = (bg + 0.05) / (_luminance(TEXT) + 0.05)
    return "#ffffff" if on_white > on_dark else TEXT


def text_width(text: str, size: float = 12) -> float:
    """A generous estimate of rendered width (DejaVu Sans is wide), for layout only."""
    return len(str(text)) * size * 0.62


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5, 5 or 10 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def ticks(maximum: float, count: int = 4) -> list[float]:
    """Gridline values from 0 to at least ``maximum``, about ``count`` whole-number steps (counts)."""
    step = max(1, nice_ceiling(max(maximum, 1) / count))
    if step != int(step):
        step = math.ceil(step)
    n = max(1, math.ceil(maximum / step - 1e-9))
    return [i * step for i in range(n + 1)]


def short_number(n: float) -> str:
    n = float(n)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            v = n / limit
            return f"{v:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


def day_label(d: date | datetime) -> str:
    return f"{d:%b} {d.day}"


def _open(height: float, title: str, desc: str, kind: str) -> tuple[str, str]:
    n = next(_ids)
    tid, did = f"chart-{n}-title", f"chart-{n}-desc"
    head = (
        f'<svg viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="{WIDTH}" height="{height:.0f}" role="img" aria-labelledby="{tid} {did}" '
        f'class="chart-svg" data-kind="{esc(kind)}" font-family="{esc(FONT)}" font-size="12" fill="{TEXT}">'
        f'<title id="{tid}">{esc(title)}</title><desc id="{did}">{esc(desc)}</desc>'
    )
    return head, "</svg>"


def _text(x, y, s, *, anchor="start", size=12, fill=TEXT, weight=None, baseline=None, extra="") -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if baseline:
        attrs += f' dominant-baseline="{baseline}"'
    return f"<text {attrs}{extra}>{esc(s)}</text>"


def _rect(x, y, w, h, color, tip: str, extra: str = "") -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{color}"{extra}><title>{esc(tip)}</title></rect>')


def legend(items: Sequence[tuple[str, str] | tuple[str, str, str | None]], x: float, y: float,
           max_width: float = WIDTH - 20, shape: str = "rect") -> tuple[str, float]:
    """Swatches and names in rows (an item may carry a line dash pattern); returns (svg, height used)."""
    parts, cx, cy = [], x, y
    for item in items:
        name, color = item[0], item[1]
        dash = item[2] if len(item) > 2 else None
        w = 18 + text_width(name) + 18
        if cx + w > x + max_width and cx > x:
            cx, cy = x, cy + 20
        if shape == "line":
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="{cx:.1f}" y1="{cy + 6:.1f}" x2="{cx + 14:.1f}" y2="{cy + 6:.1f}" '
                         f'stroke="{color}" stroke-width="3"{dashed}/>')
        else:
            parts.append(f'<rect x="{cx:.1f}" y="{cy:.1f}" width="12" height="12" rx="2" fill="{color}"/>')
        parts.append(_text(cx + 18, cy + 10, name, fill=TEXT))
        cx += w
    return f'<g class="legend">{"".join(parts)}</g>', (cy - y) + 20 if items else 0


def _thin(labels: Sequence[str], slot: float, size: float = 12) -> int:
    """Show every k-th x label so that labels never overlap."""
    widest = max((text_width(s, size) for s in labels), default=0) + 8
    return max(1, math.ceil(widest / max(slot, 1e-9)))


# ---------------------------------------------------------------- horizontal stacked bars
@dataclass
class Series:
    name: str
    color: str
    values: list[float]
    dash: str | None = None
    area: bool = False  # line charts: shade the area under the line
    opacity: float = 1.0  # bars: lighter fill (e.g. exits below entries of the same colour)


def hbar_stacked(labels: Sequence[str], series: Sequence[Series], *, title: str, desc: str,
                 total_label: Callable[[int], str] | None = None, normalise: bool = False,
                 value_fmt: Callable[[float], str] = fmt_int, kind: str = "hbar",
                 segment_labels: bool = True) -> str:
    """One horizontal bar per label, split into series; ``normalise`` draws shares of 100%."""
    label_w = min(300, max(text_width(s, 13) for s in labels) + 16)
    right = 150
    plot_x, plot_w = label_w, WIDTH - label_w - right
    bar_h, gap = 26, 12
    leg, leg_h = legend([(s.name, s.color) for s in series], 10, 8)
    top = 8 + leg_h + 10
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    tick_values = [0, .25, .5, .75, 1] if normalise else ticks(max(totals, default=0) or 1)
    scale_max = tick_values[-1]
    height = top + len(labels) * (bar_h + gap) + 28
    head, tail = _open(height, title, desc, kind)
    out = [head, leg]
    axis_y = top + len(labels) * (bar_h + gap)
    for t in tick_values:
        x = plot_x + plot_w * t / scale_max
        out.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" stroke="{GRID}"/>')
        out.append(_text(x, axis_y + 16, f"{t:.0%}" if normalise else short_number(t), anchor="middle",
                         size=11, fill=MUTED))
    for i, label in enumerate(labels):
        y = top + i * (bar_h + gap)
        out.append(_text(plot_x - 8, y + bar_h / 2 + 4, label, anchor="end", size=13))
        x, total = plot_x, totals[i]
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            share = v / total if total else 0
            w = plot_w * (share if normalise else v / scale_max)
            tip = f"{label} – {s.name}: {value_fmt(v)} ({fmt_pct(share)})"
            out.append(_rect(x, y, w, bar_h, s.color, tip))
            inside = f"{share:.0%}" if normalise else value_fmt(v)
            if segment_labels and w > text_width(inside, 11) + 8:
                fill = ink(s.color)
                out.append(_text(x + w / 2, y + bar_h / 2 + 4, inside, anchor="middle", size=11, fill=fill,
                                 weight="600"))
            x += w
        end = total_label(i) if total_label else value_fmt(total)
        end_x = (plot_x + plot_w) if normalise else x
        out.append(_text(end_x + 8, y + bar_h / 2 + 4, end, size=12, fill=MUTED))
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- funnels
def funnel(groups: Sequence[tuple[str, Sequence[tuple[str, float]]]], *, title: str, desc: str,
           colors: Sequence[str] = (BLUE, SKY, GREEN), notes: dict[tuple[str, str], str] | None = None,
           kind: str = "funnel") -> str:
    """Per group, one bar per step; widths are shares of the group's first step, so groups of
    very different size compare by rate. Labels carry the count and the rate."""
    notes = notes or {}
    label_w = max(170, max((text_width(g, 13) for g, _ in groups), default=0) + 20)
    step_w = max(text_width(s, 12) for _, steps in groups for s, _ in steps) + 16
    plot_x = label_w + step_w
    plot_w = WIDTH - plot_x - 190
    bar_h, gap, group_gap = 18, 5, 16
    leg, leg_h = legend([(s, c) for (s, _), c in zip(groups[0][1], colors)], 10, 8) if groups else ("", 0)
    top = 8 + leg_h + 8
    height = top + sum(len(steps) * (bar_h + gap) + group_gap - gap for _, steps in groups) - group_gap / 2 + 6
    head, tail = _open(height, title, desc, kind)
    out = [head, leg]
    y = top
    for group, steps in groups:
        base = steps[0][1] if steps else 0
        group_h = len(steps) * (bar_h + gap) - gap
        out.append(_text(10, y + group_h / 2 + 5, group, size=14, weight="600"))
        out.append(f'<line x1="{label_w - 10:.1f}" y1="{y:.1f}" x2="{label_w - 10:.1f}" y2="{y + group_h:.1f}" '
                   f'stroke="{GRID}" stroke-width="2"/>')
        for (step, n), color in zip(steps, itertools.cycle(colors)):
            rate = n / base if base else None
            w = plot_w * (rate or 0)
            out.append(_text(plot_x - 8, y + bar_h / 2 + 4, step, anchor="end", size=12, fill=MUTED))
            out.append(f'<rect x="{plot_x:.1f}" y="{y:.1f}" width="{plot_w:.1f}" height="{bar_h}" fill="#f3f5f7"/>')
            tip = f"{group} – {step}: {fmt_int(n)}" + (f" ({fmt_pct(rate)} of {steps[0][0]})" if base else "")
            out.append(_rect(plot_x, y, max(w, 1.5 if n else 0), bar_h, color, tip))
            label = notes.get((group, step)) or (f"{fmt_int(n)}  ·  {fmt_pct(rate)}" if base else fmt_int(n))
            if w > max(text_width(label, 12) + 16, plot_w * 0.6):
                fill = ink(color)
                out.append(_text(plot_x + w - 8, y + bar_h / 2 + 4, label, anchor="end", size=12, fill=fill,
                                 weight="600"))
            else:
                out.append(_text(plot_x + max(w, 0) + 6, y + bar_h / 2 + 4, label, size=12))
            y += bar_h + gap
        y += group_gap - gap
        if group != groups[-1][0]:
            out.append(f'<line x1="10" y1="{y - group_gap / 2:.1f}" x2="{WIDTH - 10}" y2="{y - group_gap / 2:.1f}" '
                       f'stroke="{GRID}"/>')
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- vertical stacked bars
def vbar_stacked(categories: Sequence[str], up: Sequence[Series], down: Sequence[Series] = (), *,
                 title: str, desc: str, normalise: bool = False, y_title: str = "",
                 category_tips: Sequence[str] | None = None, kind: str = "vbar",
                 annotate: Callable[[int], str] | None = None, height: float = 300,
                 legend_items: Sequence[tuple[str, str]] | None = None,
                 up_title: str = "", down_title: str = "") -> str:
    """Stacked columns per category; ``down`` series stack below zero (e.g. exits)."""
    n = len(categories)
    items = legend_items if legend_items is not None else [(s.name, s.color) for s in [*up, *down]]
    leg, leg_h = legend(items, 10, 8)
    top = 8 + leg_h + 14
    plot_x, plot_w = 64, WIDTH - 64 - 20
    up_tot = [sum(s.values[i] for s in up) for i in range(n)]
    down_tot = [sum(s.values[i] for s in down) for i in range(n)]
    if normalise:
        up_max, down_max = 1.0, 0.0
        up_grid, down_grid = [0, .25, .5, .75, 1], []
    else:
        up_grid = ticks(max(up_tot, default=0) or 1)
        if down and max(down_tot, default=0) > 2 * up_grid[-1]:
            # far more below than above: above zero keeps a third of the height too
            up_grid = ticks(max(max(up_tot, default=0), max(down_tot) / 2), 2)
        up_max = up_grid[-1]
        down_grid = []
        if down and max(down_tot, default=0) > 0:
            # below zero gets at least a third of the height, so its gridlines stay readable
            down_grid = ticks(max(max(down_tot), up_max / 2), 2)
        down_max = down_grid[-1] if down_grid else 0
    plot_h = height
    zero_y = top + plot_h * up_max / (up_max + down_max)
    unit = plot_h / (up_max + down_max)
    slot = plot_w / max(n, 1)
    bar_w = max(1.0, min(48.0, slot * 0.72))
    tips = category_tips or categories
    x_label_size = 11
    every = _thin(categories, slot, x_label_size)
    total_h = top + plot_h + 40 + (14 if y_title else 0)
    head, tail = _open(total_h, title, desc, kind)
    out = [head, leg]
    grid = up_grid + [-t for t in down_grid if t > 0]
    for t in grid:
        y = zero_y - t * unit
        out.append(f'<line x1="{plot_x}" y1="{y:.1f}" x2="{plot_x + plot_w}" y2="{y:.1f}" '
                   f'stroke="{TEXT if t == 0 else GRID}" stroke-width="{1.2 if t == 0 else 1}"/>')
        out.append(_text(plot_x - 6, y + 4, f"{t:.0%}" if normalise else short_number(abs(t)), anchor="end",
                         size=11, fill=MUTED))
    if y_title:
        out.append(_text(12, top - 8, y_title, size=11, fill=MUTED))
    if up_title or down_title:
        both = up_title + ("   " + down_title if down_title and down_max else "")
        out.append(_text(12, top - 8, both, size=11, fill=MUTED, weight="600"))
    for i, cat in enumerate(categories):
        cx = plot_x + slot * i + slot / 2
        x = cx - bar_w / 2
        y = zero_y
        total = up_tot[i] if normalise else 1
        for s in up:
            v = s.values[i]
            if v <= 0:
                continue
            h = (v / total if normalise else v) * unit
            y -= h
            share = f" ({fmt_pct(v / up_tot[i])})" if up_tot[i] else ""
            out.append(_rect(x, y, bar_w, h, s.color, f"{tips[i]} – {s.name}: {fmt_int(v)}{share}"))
        y = zero_y
        for s in down:
            v = s.values[i]
            if v <= 0:
                continue
            h = v * unit
            out.append(_rect(x, y, bar_w, h, s.color, f"{tips[i]} – {s.name}: {fmt_int(v)}",
                             f' fill-opacity="{s.opacity}"' if s.opacity < 1 else ""))
            y += h
        if annotate:
            note = annotate(i)
            if note and text_width(note, 10) < slot + 6:
                out.append(_text(cx, zero_y - (1.0 if normalise else up_tot[i]) * unit - 4, note,
                                 anchor="middle", size=10, fill=MUTED))
        if i % every == 0:
            out.append(_text(cx, top + plot_h + 18, cat, anchor="middle", size=x_label_size, fill=MUTED))
    if down_grid:
        out.append(f'<line x1="{plot_x}" y1="{zero_y:.1f}" x2="{plot_x + plot_w}" y2="{zero_y:.1f}" '
                   f'stroke="#ffffff" stroke-width="3"/>')
        out.append(f'<line x1="{plot_x}" y1="{zero_y:.1f}" x2="{plot_x + plot_w}" y2="{zero_y:.1f}" '
                   f'stroke="{TEXT}" stroke-width="1.2"/>')
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- line chart
def line_chart(days: Sequence[date], series: Sequence[Series], *, title: str, desc: str, y_title: str = "",
               height: float = 260, kind: str = "line", value_fmt: Callable[[float], str] = fmt_int) -> str:
    """Lines over consecutive days (missing values are drawn as gaps), with a point per day."""
    n = len(days)
    leg, leg_h = legend([(s.name, s.color, s.dash) for s in series], 10, 8, shape="line")
    top = 8 + leg_h + 16
    plot_x, plot_w = 64, WIDTH - 64 - 24
    values = [v for s in series for v in s.values if v is not None]
    y_ticks = ticks(max(values, default=0) or 1)
    y_max = y_ticks[-1]
    total_h = top + height + 36
    head, tail = _open(total_h, title, desc, kind)
    out = [head, leg]
    for t in y_ticks:
        y = top + height - height * t / y_max
        out.append(f'<line x1="{plot_x}" y1="{y:.1f}" x2="{plot_x + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(plot_x - 6, y + 4, short_number(t), anchor="end", size=11, fill=MUTED))
    if y_title:
        out.append(_text(12, top - 8, y_title, size=11, fill=MUTED))

    def px(i: int) -> float:
        return plot_x + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    labels = [day_label(d) for d in days]
    every = _thin(labels, plot_w / max(n - 1, 1), 11)
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(f'<line x1="{px(i):.1f}" y1="{top + height:.1f}" x2="{px(i):.1f}" '
                       f'y2="{top + height + 4:.1f}" stroke="{MUTED}"/>')
            out.append(_text(px(i), top + height + 18, label, anchor="middle", size=11, fill=MUTED))
    out.append(f'<line x1="{plot_x}" y1="{top + height:.1f}" x2="{plot_x + plot_w}" y2="{top + height:.1f}" '
               f'stroke="{TEXT}"/>')
    dot_r = 3 if n <= 90 else 0
    for s in series:
        segments, current = [], []
        for i, v in enumerate(s.values):
            if v is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((px(i), top + height - height * v / y_max))
        if current:
            segments.append(current)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<g class="series" data-series="{esc(s.name)}">')
        base_y = top + height
        for seg in segments if s.area else ():
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            out.append(f'<polygon points="{seg[0][0]:.1f},{base_y:.1f} {pts} {seg[-1][0]:.1f},{base_y:.1f}" '
                       f'fill="{s.color}" fill-opacity="0.12" stroke="none"/>')
        for seg in segments:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{s.color}" stroke-width="2.5" '
                       f'stroke-linejoin="round" stroke-linecap="round"{dash}><title>{esc(s.name)}</title></polyline>')
        for i, v in enumerate(s.values):
            if v is None:
                continue
            x, y = px(i), top + height - height * v / y_max
            r = dot_r if dot_r else 2
            opacity = 1 if dot_r else 0
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{s.color}" fill-opacity="{opacity}">'
                       f'<title>{esc(labels[i])} – {esc(s.name)}: {esc(value_fmt(v))}</title></circle>')
        out.append("</g>")
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- freshness: ages on a log scale
def age_bars(rows: Sequence[tuple[str, float | None, str, str]], *, amber_hours: float, red_hours: float,
             colors: dict[str, str], title: str, desc: str, kind: str = "ages") -> str:
    """One bar per (label, age in hours or None, level, caption) on a log scale with the thresholds."""
    label_w = max(text_width(r[0], 13) for r in rows) + 20
    plot_x, plot_w = label_w, WIDTH - label_w - 260
    marks = [(1, "1 h"), (6, "6 h"), (24, "1 d"), (72, "3 d"), (24 * 7, "1 w"), (24 * 30, "30 d"),
             (24 * 365, "1 y")]
    max_age = max([a for _, a, _, _ in rows if a is not None] + [red_hours * 2])
    hi = next((h for h, _ in marks if h >= max_age), max_age)
    lo = 0.25

    def sx(hours: float) -> float:
        h = min(max(hours, lo), hi)
        return plot_x + plot_w * (math.log(h) - math.log(lo)) / (math.log(hi) - math.log(lo))

    bar_h, gap, top = 26, 14, 34
    height = top + len(rows) * (bar_h + gap) + 30
    head, tail = _open(height, title, desc, kind)
    out = [head]
    zones = [(lo, amber_hours, colors["green"], "fresh"), (amber_hours, red_hours, colors["amber"], "ageing"),
             (red_hours, hi, colors["red"], "stale")]
    bottom = top + len(rows) * (bar_h + gap) - gap
    for a, b, color, name in zones:
        if b <= a:
            continue
        out.append(f'<rect x="{sx(a):.1f}" y="{top - 6}" width="{sx(b) - sx(a):.1f}" height="{bottom - top + 12:.1f}" '
                   f'fill="{color}" fill-opacity="0.10"><title>{esc(name)}</title></rect>')
        out.append(_text((sx(a) + sx(b)) / 2, top - 12, name, anchor="middle", size=11, fill=color, weight="600"))
    for h, label in marks:
        if lo < h <= hi:
            out.append(f'<line x1="{sx(h):.1f}" y1="{top - 6}" x2="{sx(h):.1f}" y2="{bottom + 6:.1f}" stroke="{GRID}"/>')
            out.append(_text(sx(h), bottom + 22, label, anchor="middle", size=11, fill=MUTED))
    for t in (amber_hours, red_hours):
        out.append(f'<line x1="{sx(t):.1f}" y1="{top - 6}" x2="{sx(t):.1f}" y2="{bottom + 6:.1f}" '
                   f'stroke="{MUTED}" stroke-dasharray="4 3"/>')
    for i, (label, hours, level, caption) in enumerate(rows):
        y = top + i * (bar_h + gap)
        out.append(_text(plot_x - 10, y + bar_h / 2 + 5, label, anchor="end", size=13))
        if hours is None:
            out.append(_text(plot_x + 6, y + bar_h / 2 + 5, caption, size=12, fill=MUTED))
            continue
        w = sx(hours) - plot_x
        out.append(_rect(plot_x, y, max(w, 2), bar_h, colors[level], f"{label}: {caption}", ' rx="3"'))
        out.append(_text(plot_x + max(w, 2) + 8, y + bar_h / 2 + 5, caption, size=12))
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- runs: one column per run
def run_columns(runs: Sequence[dict], *, colors: dict[str, str], title: str, desc: str, kind: str = "runs") -> str:
    """Oldest to newest, left to right; height = duration (square-root scale), colour = status,
    with the status's initial under each column so colour is not the only cue, and the command
    and start time as a slanted label (slanted labels do not overlap)."""
    statuses = list(dict.fromkeys(r["status"] for r in runs))
    leg, leg_h = legend([(f"{s} ({s[:1].upper()})", colors.get(s, GREY)) for s in statuses], 10, 8)
    top = 8 + leg_h + 14
    plot_x, plot_h = 64, 150
    n = len(runs)
    angle = 40
    label_w = max((text_width(r["label"], 11) for r in runs), default=0)
    x0 = max(plot_x + 10, label_w * math.cos(math.radians(angle)) - 4)
    slot = min(80.0, (WIDTH - 20 - x0) / max(n, 1))
    bar_w = min(36, slot * 0.7)
    durations = [max(r["duration_s"] or 0, 0) for r in runs]
    y_ticks = ticks(max(durations, default=0) or 1, 3)
    top_s = y_ticks[-1]

    def sy(seconds: float) -> float:
        return top + plot_h - plot_h * math.sqrt(seconds / top_s)

    height = top + plot_h + 30 + label_w * math.sin(math.radians(angle)) + 24
    head, tail = _open(height, title, desc, kind)
    out = [head, leg]
    for t in y_ticks:
        out.append(f'<line x1="{plot_x}" y1="{sy(t):.1f}" x2="{WIDTH - 20}" y2="{sy(t):.1f}" '
                   f'stroke="{TEXT if t == 0 else GRID}"/>')
        out.append(_text(plot_x - 6, sy(t) + 4, f"{short_number(t)} s", anchor="end", size=11, fill=MUTED))
    out.append(_text(12, top - 8, "duration (√ scale)", size=11, fill=MUTED))
    for i, r in enumerate(runs):
        cx = x0 + slot * i + slot / 2
        y = sy(durations[i])
        color = colors.get(r["status"], GREY)
        tip = (f"{r['when']} {r['command']}: {r['status']}, {durations[i]:.1f} s"
               + (f" – {r['summary']}" if r.get("summary") else ""))
        out.append(_rect(cx - bar_w / 2, y, bar_w, max(top + plot_h - y, 2), color, tip, ' rx="2"'))
        out.append(_text(cx, top + plot_h + 16, r["status"][:1].upper(), anchor="middle", size=11, fill=TEXT,
                         weight="700"))
        ly = top + plot_h + 30
        out.append(f'<text x="{cx + 4:.1f}" y="{ly:.1f}" font-size="11" fill="{MUTED}" text-anchor="end" '
                   f'transform="rotate(-{angle} {cx + 4:.1f} {ly:.1f})">{esc(r["label"])}</text>')
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- small multiples: one mini chart per series
@dataclass
class Mini:
    name: str
    values: list[float | None]  # one per day (None: nothing recorded that day)
    color: str
    note: str = ""  # under the name, e.g. "+12 / −3"
    muted: bool = False  # drawn dashed and grey-labelled (e.g. a building block that is not pushed)


def small_multiples(days: Sequence[date], minis: Sequence[Mini], *, title: str, desc: str, columns: int = 4,
                    kind: str = "multiples") -> str:
    """A grid of small line charts over the same days, each on its own scale (from zero), with the
    latest value written large: many series stay readable where one shared chart would tangle."""
    n = len(days)
    gap, cell_h = 12, 118
    cell_w = (WIDTH - gap * (columns - 1) - 2) / columns
    rows = math.ceil(len(minis) / columns)
    height = rows * (cell_h + gap) - gap + 22
    head, tail = _open(height, title, desc, kind)
    out = [head]
    for k, m in enumerate(minis):
        x0 = 1 + (k % columns) * (cell_w + gap)
        y0 = (k // columns) * (cell_h + gap) + 1
        out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{cell_w:.1f}" height="{cell_h}" rx="6" fill="#fbfcfd" '
                   f'stroke="{GRID}"/>')
        name = m.name if text_width(m.name, 12) < cell_w - 16 else m.name[:int((cell_w - 24) / 7.4)] + "…"
        out.append(_text(x0 + 8, y0 + 17, name, size=12, weight="600", fill=MUTED if m.muted else TEXT,
                         extra=f' data-mini="{esc(m.name)}"'))
        present = [(i, v) for i, v in enumerate(m.values) if v is not None]
        latest = present[-1][1] if present else None
        out.append(_text(x0 + 8, y0 + 40, "–" if latest is None else fmt_int(latest), size=18, weight="700",
                         fill=MUTED if m.muted else TEXT))
        if m.note:
            out.append(_text(x0 + cell_w - 8, y0 + 40, m.note, anchor="end", size=11, fill=MUTED))
        plot_x, plot_w = x0 + 8, cell_w - 16
        plot_top, plot_h = y0 + 50, cell_h - 50 - 20
        top_v = max((v for _, v in present), default=0) or 1

        def pt(i, v):
            px = plot_x + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
            return px, plot_top + plot_h - plot_h * v / top_v

        base = plot_top + plot_h
        out.append(f'<line x1="{plot_x:.1f}" y1="{base:.1f}" x2="{plot_x + plot_w:.1f}" y2="{base:.1f}" '
                   f'stroke="{GRID}"/>')
        segments, current = [], []
        for i, v in enumerate(m.values):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(pt(i, v))
        if current:
            segments.append(current)
        dash = ' stroke-dasharray="5 3"' if m.muted else ""
        for seg in segments:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            if len(seg) > 1:
                out.append(f'<polygon points="{seg[0][0]:.1f},{base:.1f} {pts} {seg[-1][0]:.1f},{base:.1f}" '
                           f'fill="{m.color}" fill-opacity="0.12" stroke="none"/>')
            out.append(f'<polyline points="{pts}" fill="none" stroke="{m.color}" stroke-width="2" '
                       f'stroke-linejoin="round"{dash}><title>{esc(m.name)}</title></polyline>')
        for i, v in present:
            x, y = pt(i, v)
            r = 2.5 if n <= 45 or i == present[-1][0] else 0
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r or 1.5}" fill="{m.color}" '
                       f'fill-opacity="{1 if r else 0}"><title>{esc(day_label(days[i]))} – {esc(m.name)}: '
                       f'{esc(fmt_int(v))}</title></circle>')
        out.append(_text(plot_x, base + 14, day_label(days[0]), size=10, fill=MUTED))
        if n > 1:
            out.append(_text(plot_x + plot_w, base + 14, day_label(days[-1]), anchor="end", size=10, fill=MUTED))
    out.append(_text(2, height - 4, "Each panel has its own scale, from zero.", size=11, fill=MUTED))
    out.append(tail)
    return "".join(out)


# ---------------------------------------------------------------- heatmap: rows x columns, one panel per measure
def _mix(color: str, share: float) -> str:
    """``share`` of the way from near-white to ``color``."""
    base = (0xF4, 0xF7, 0xFA)
    rgb = [int(color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
    return "#" + "".join(f"{round(b + (c - b) * share):02x}" for b, c in zip(base, rgb))


@dataclass
class Panel:
    title: str
    values: dict[tuple[str, str], float | None]  # (row, column) -> value (None: no data)
    labels: dict[tuple[str, str], str]  # (row, column) -> text in the cell
    tips: dict[tuple[str, str], str]  # (row, column) -> tooltip
    color: str = BLUE
    legend_fmt: Callable[[float], str] = fmt_pct


def heatmap(rows: Sequence[str], cols: Sequence[str], panels: Sequence[Panel], *, title: str, desc: str,
            kind: str = "heatmap", empty_text: str = "–") -> str:
    """One grid per panel, stacked: a cell per (row, column), shaded by its value relative to the
    panel's largest, with its value written in it; empty cells are grey and say so."""
    label_w = max(text_width(r, 13) for r in rows) + 20
    cell_h = 34
    cell_w = min(120.0, (WIDTH - label_w - 16) / max(len(cols), 1))
    head_h = 22
    panel_h = 24 + head_h + len(rows) * cell_h + 18
    height = panel_h * len(panels) + 6
    open_, tail = _open(height, title, desc, kind)
    out = [open_]
    for p_i, panel in enumerate(panels):
        top = p_i * panel_h + 6
        present = [v for v in panel.values.values() if v is not None]
        top_value = max(present, default=0) or 1
        out.append(_text(10, top + 14, panel.title, size=13, weight="600"))
        out.append(_text(WIDTH - 10, top + 14, f"darkest = {panel.legend_fmt(top_value)}", anchor="end", size=11,
                         fill=MUTED))
        grid_top = top + 24
        for c_i, col in enumerate(cols):
            cx = label_w + c_i * cell_w + cell_w / 2
            out.append(_text(cx, grid_top + 14, col, anchor="middle", size=11, fill=MUTED))
        for r_i, row in enumerate(rows):
            y = grid_top + head_h + r_i * cell_h
            out.append(_text(label_w - 10, y + cell_h / 2 + 4, row, anchor="end", size=13))
            for c_i, col in enumerate(cols):
                x = label_w + c_i * cell_w
                value = panel.values.get((row, col))
                if value is None:
                    out.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, "#eceff2",
                                     panel.tips.get((row, col), f"{row} – {col}: no deliveries")))
                    out.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, panel.labels.get((row, col), empty_text),
                                     anchor="middle", size=11, fill=MUTED))
                    continue
                fill = _mix(panel.color, 0.12 + 0.88 * (value / top_value))
                out.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, fill,
                                 panel.tips.get((row, col), f"{row} – {col}: {panel.legend_fmt(value)}")))
                label = panel.labels.get((row, col), panel.legend_fmt(value))
                size = 12 if text_width(label, 12) < cell_w - 6 else 10
                out.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, label, anchor="middle", size=size,
                                 fill=ink(fill), weight="600"))
    out.append(tail)
    return "".join(out)


def color_cycle(names: Iterable[str], palette: Sequence[str] | None = None) -> dict[str, str]:
    """A colour per name; the long palette once there are more names than the short one has colours."""
    names = list(names)
    if palette is None:
        palette = PALETTE if len(names) <= len(PALETTE) else LONG_PALETTE
    return {name: color for name, color in zip(names, itertools.cycle(palette))}
