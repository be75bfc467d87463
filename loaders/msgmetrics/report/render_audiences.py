"""The audiences: who is assigned each, who was left out by a suppression, who was outranked."""

from __future__ import annotations

from . import queries as q
from . import svg
from .blocks import Body, Options, empty_note, figure, missing_note
from .svg import BLUE, ORANGE, SKY, VERMILLION, Series, esc


def _label(a: q.AudienceRow) -> str:
    if a.is_incentive:
        return f"{a.name} · incentive #{a.priority}" if a.priority is not None else f"{a.name} · incentive, unranked"
    return a.name


def render_audiences(data: list[q.AudienceRow] | q.Missing, opts: Options) -> Body:
    if isinstance(data, q.Missing):
        return Body(missing_note("audiences", data), status="empty")
    if not data:
        return Body(empty_note("audiences", q.DIM_AUDIENCES, "no audience is defined: see the var "
                                                              "<code>audiences</code> in dbt_project.yml"),
                    status="empty")
    if not any(a.assigned or a.suppressed or a.outranked for a in data):
        return Body(empty_note("audiences", q.AUDIENCE_ASSIGNMENTS, f"nobody is in the cohorts of the {len(data)} "
                                                                     "audiences at this as_of"), status="empty")
    labels = [_label(a) for a in data]
    series = [
        Series("assigned, with an Amplitude user id (pushed)", BLUE, [a.assigned_pushable for a in data]),
        Series("assigned, no Amplitude user id", SKY, [a.assigned_unresolved for a in data]),
        Series("suppressed (in a suppress cohort)", ORANGE, [a.suppressed for a in data]),
        Series("outranked (a better incentive won)", VERMILLION, [a.outranked for a in data]),
    ]
    chart = svg.hbar_stacked(
        labels, series, kind="hbar",
        title="Audiences: assigned, suppressed and outranked people",
        desc="; ".join(f"{a.name}: {a.assigned:,} assigned ({a.assigned_pushable:,} with an Amplitude user id), "
                       f"{a.suppressed:,} suppressed, {a.outranked:,} outranked" for a in data),
        total_label=lambda i: f"{data[i].assigned:,} assigned")
    pushed = [a for a in data if a.is_pushed and a.amplitude_property]
    props = ", ".join(f"<code>{esc(a.amplitude_property)}</code>" for a in pushed[:2]) + (", ..." if len(pushed) > 2 else "")
    html = figure("audiences", chart,
                  "Everyone eligible for each audience (in its cohort): assigned (blue; only those with an Amplitude "
                  "user id are pushed, as " + (props or "no property") + "), left out because they are in one of "
                  "its suppress cohorts (orange), or outranked by a better-priority incentive audience (red), so "
                  "nobody gets two incentives. Incentives are ranked by priority (#1 wins).",
                  [q.AUDIENCE_ASSIGNMENTS, q.DIM_AUDIENCES])
    return Body(html, ["audiences"])
