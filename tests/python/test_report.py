"""`msgmetrics report`: one self-contained HTML file, checked as text and in a real headless Chromium.

The demo warehouse is generated once per session through the real CLI (`msgmetrics demo`, which
also pushes to the local fake Amplitude, so the ledger has a run and cohort entries). Tests that
change a warehouse work on a copy. The browser tests need Debian's `chromium` at /usr/bin/chromium
and fail (not skip) without it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import run_cli
from msgmetrics.report import WarehouseBusy, build_report

CHROMIUM = Path("/usr/bin/chromium")
# the charts of the demo (one build, one push, webhooks only): the history is a note while one day is recorded,
# the deliveries-by-source-mix chart a sentence while there is one mix
CHARTS = ("cohort-sizes", "audiences", "cohort-changes", "funnel-channel", "funnel-intent", "funnel-matrix",
          "funnel-parent-type", "machine-opens", "machine-clicks", "identity-coverage", "source-events", "freshness",
          "runs", "pushes", "daily-volume", "daily-clicks")
SECTIONS = ("cohorts", "audiences", "entries-exits", "funnels", "without-intent", "machine-human", "identity",
            "sources", "freshness", "runs", "daily-volume")
SOURCES = ("marts.cohort_membership", "marts.cohort_sizes_daily", "marts.audience_assignments",
           "msgmetrics_ledger.amplitude_user_property_log", "msgmetrics_ledger.push_runs",
           "marts.fct_message_deliveries", "marts.dim_message_intents", "marts.fct_message_events",
           "marts.rpt_identity_coverage", "msgmetrics_ledger.runs", "marts.fct_message_metrics_daily")
# Okabe-Ito colours the charts fill bars with; a real render has large areas of each.
BLUE, ORANGE, GREEN = (0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> Path:
    """`msgmetrics demo --people 200 --days 30`: loaded, built and pushed to the local fake Amplitude."""
    root = tmp_path_factory.mktemp("report_demo")
    warehouse = root / "msgmetrics.duckdb"
    run_cli(warehouse, "demo", "--people", "200", "--days", "30", "--out", str(root / "data"))
    return warehouse


@pytest.fixture(scope="session")
def report(demo_warehouse, tmp_path_factory) -> tuple[Path, str]:
    out = build_report(demo_warehouse, tmp_path_factory.mktemp("report") / "report.html")
    return out, out.read_text(encoding="utf-8")


def copy_of(warehouse: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, target)
    return target


def figure(html: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" data-chart="{chart_id}".*?</figure>', html, re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section class="report" id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


def fetch(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------- structure, without a browser
def test_every_section_has_its_chart_and_caption(report, demo_warehouse):
    path, html = report
    assert html.startswith("<!DOCTYPE html>") and path.name == "report.html"
    assert str(demo_warehouse.resolve()) in html and "generated 20" in html  # header: warehouse and time
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    for section_id in SECTIONS:
        assert f'href="#{section_id}"' in toc
        assert f'data-status="ok"' in section(html, section_id), section_id
    assert 'class="section-error"' not in html
    assert re.findall(r'data-chart="([\w-]+)"', html) == list(CHARTS)
    assert html.count("<svg") == len(CHARTS) and f'data-expected-charts="{len(CHARTS)}"' in html
    for chart_id in CHARTS:
        fig = figure(html, chart_id)
        assert re.search(r'<svg [^>]*role="img" aria-labelledby="chart-\d+-title chart-\d+-desc"', fig), chart_id
        assert re.search(r"<title id=\"chart-\d+-title\">[^<]+</title><desc id=\"chart-\d+-desc\">[^<]+</desc>", fig)
        assert "<figcaption>" in fig and "Source: <code>" in fig, chart_id
        marks = re.findall(r"<(?:rect|circle|polyline)[^>]*><title>[^<]+</title>", fig)  # data marks with a tooltip
        assert marks, f"{chart_id} draws nothing"
    for source in SOURCES:
        assert f"<code>{source}</code>" in html, source
    # the demo builds once: marts.cohort_sizes_daily holds one day, which the history names instead of a chart
    (day,) = fetch(demo_warehouse, "select distinct day from marts.cohort_sizes_daily")[0]
    history = re.search(r'<p class="nodata" data-nodata="cohort-history">.*?</p>', html, re.S).group(0)
    assert f"one day is recorded so far (<strong>{day:%b %-d, %Y}</strong>" in history
    assert "data-nodata" not in section(html, "audiences") + section(html, "funnels")


def test_the_file_is_self_contained(report):
    _, html = report
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b", html, re.I) and "@import" not in html and "url(" not in html
    assert not re.search(r"\bsrc\s*=", html, re.I)  # no images, frames or scripts from anywhere
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))  # only in-page links
    assert html.count("<script>") == 1 and html.count("<style>") == 1


def test_numbers_match_the_marts(report, demo_warehouse):
    _, html = report
    cohorts = figure(html, "cohort-sizes")
    for name, members, pushable in fetch(demo_warehouse, """
            select cohort_name, count(*), count(amplitude_user_id) from marts.cohort_membership group by 1"""):
        assert f"{name} {members:,} ({pushable:,} with an Amplitude user id)" in cohorts
    audiences = fetch(demo_warehouse, """
        select audience_name, count(*) filter (where status = 'assigned'),
               count(*) filter (where status = 'assigned' and amplitude_user_id is not null),
               count(*) filter (where status = 'suppressed'), count(*) filter (where status = 'outranked')
        from marts.audience_assignments group by 1""")
    assert len(audiences) >= 4 and any(a[3] for a in audiences)
    for name, assigned, pushable, suppressed, outranked in audiences:
        assert (f"{name}: {assigned:,} assigned ({pushable:,} with an Amplitude user id), {suppressed:,} suppressed, "
                f"{outranked:,} outranked") in figure(html, "audiences")
    funnel_sql = """
        select {by}, count(*) filter (where was_delivered), count(*) filter (where was_delivered and was_human_opened),
               count(*) filter (where was_delivered and was_human_clicked)
        from {relation} group by 1 having count(*) filter (where was_delivered) > 0"""
    by_channel = fetch(demo_warehouse, funnel_sql.format(by="channel", relation="marts.fct_message_deliveries"))
    assert {c for c, *_ in by_channel} >= {"email", "sms", "push"}
    for channel, delivered, opened, clicked in by_channel:
        assert f"{channel}: {delivered:,} delivered, {opened:,} human opens" in figure(html, "funnel-channel")
        assert f"{clicked:,} human clicks" in figure(html, "funnel-channel")
    by_intent = fetch(demo_warehouse, funnel_sql.format(by="coalesce(i.intent, '(no intent)')", relation="""
        marts.fct_message_deliveries d left join marts.dim_message_intents i
            on i.parent_type = d.parent_type and i.parent_id = d.parent_id
            and i.action_id is not distinct from d.action_id and i.content_id is not distinct from d.content_id"""))
    assert len(by_intent) >= 4
    for intent, delivered, opened, clicked in by_intent:
        assert f"{intent}: {delivered:,} delivered, {opened:,} human opens" in figure(html, "funnel-intent"), intent
    entries = fetch(demo_warehouse, "select property_name, count(*) from msgmetrics_ledger.amplitude_user_property_log "
                                    "where operation = 'set' and environment = 'default' group by 1")
    assert entries
    for prop, n in entries:
        kind, name = ("audience", prop.removeprefix("cio_audience_")) if prop.startswith("cio_audience_") else \
            ("cohort", prop.removeprefix("cio_cohort_"))
        assert (f'<td>{name}</td><td>{kind}</td><td><code>{prop}</code></td><td class="num">{n:,}</td>'
                in section(html, "entries-exits")), prop
    resolved, total = fetch(demo_warehouse, "select sum(n) filter (where is_resolved), sum(n) "
                                            "from marts.rpt_identity_coverage where measure = 'people'")[0]
    assert f"people: {resolved:,} of {total:,} resolved" in figure(html, "identity-coverage")
    machine, opens = fetch(demo_warehouse, "select count(*) filter (where is_prefetched), count(*) "
                                           "from marts.fct_message_events where metric = 'opened'")[0]
    assert f"Overall {machine / opens:.1%} of {opens:,} opens were machine opens" in figure(html, "machine-opens")
    (events,) = fetch(demo_warehouse, "select count(*) from marts.fct_message_events where occurred_on is not null")[0]
    assert f"webhooks {events:,} (100.0%)" in figure(html, "source-events")
    (deliveries,) = fetch(demo_warehouse, "select count(*) from marts.fct_message_deliveries")[0]
    assert f"All {deliveries:,} deliveries in <code>marts.fct_message_deliveries</code> come from webhooks" in html
    (without,) = fetch(demo_warehouse, "select count(*) from marts.rpt_messages_without_intent")[0]
    assert f'data-callout="messages-without-intent" data-count="{without}"' in section(html, "without-intent")
    sends = fetch(demo_warehouse, "select sum(sends) from marts.fct_message_metrics_daily")[0][0]
    assert f"{sends:,} sends" in figure(html, "daily-volume")
    (command,) = fetch(demo_warehouse, "select command from msgmetrics_ledger.runs")[0]
    assert command == "demo" and "demo · " in figure(html, "runs") and ">success<" in section(html, "runs")
    (accepted, sets) = fetch(demo_warehouse, """
        select p.events_accepted, (select count(*) from msgmetrics_ledger.amplitude_user_property_log l
                                   where l.run_id = p.run_id and l.operation = 'set')
        from msgmetrics_ledger.push_runs p where environment = 'default' and not dry_run""")[0]
    assert accepted > 0 and sets > 0
    assert f"{accepted:,} events, {sets:,} $set, 0 $unset accepted, 0 dead-lettered" in figure(html, "pushes")
    assert f"{accepted:,} events, {sets:,} $set, 0 $unset" in section(html, "runs")  # the runs table says the same
    assert "Amplitude environment <code>default</code> · the ledger holds pushes to default (1 push)" in html


def test_freshness_badges_follow_the_thresholds(demo_warehouse, tmp_path):
    newest_event, as_of = fetch(demo_warehouse, "select (select max(occurred_at) from marts.fct_message_events), "
                                                "(select max(as_of) from marts.cohort_membership)")[0]

    def level(now, **thresholds) -> str:
        html = build_report(demo_warehouse, tmp_path / "r.html", now=now, **thresholds).read_text()
        row = re.search(r"<td>newest event</td>.*?data-level=\"(\w+)\"", html, re.S)
        return row.group(1)

    assert level(newest_event + timedelta(hours=2)) == "green"
    assert level(newest_event + timedelta(hours=30)) == "amber"  # default: amber after 24 h
    assert level(newest_event + timedelta(hours=73)) == "red"  # default: red after 72 h
    assert level(newest_event + timedelta(hours=2), amber_after=timedelta(hours=1),
                 red_after=timedelta(hours=3)) == "amber"
    html = build_report(demo_warehouse, tmp_path / "r.html", now=as_of + timedelta(days=30)).read_text()
    assert 'data-level="red"' in re.search(r'<header class="top">.*?</header>', html, re.S).group(0)
    with pytest.raises(ValueError):
        build_report(demo_warehouse, tmp_path / "r.html", amber_after=timedelta(hours=5), red_after=timedelta(hours=1))


def test_history_and_exits_are_drawn_when_present(demo_warehouse, tmp_path):
    warehouse = copy_of(demo_warehouse, tmp_path)
    con = duckdb.connect(str(warehouse))
    # 14 days, one of them (Oct 7) without a build; the first build records everyone as entering
    con.execute("""
        create or replace table marts.cohort_sizes_daily as
        select cast(d as date) as day, c as cohort_name, 10 + cast(extract(day from d) as integer) as members,
               case when extract(day from d) = 1 then 11 when c = 'fatigue_risk' then 3 else 0 end as entered,
               case when extract(day from d) > 1 and c = 'fatigue_risk' then 2 else 0 end as exited
        from range(timestamp '2026-10-01', timestamp '2026-10-15', interval 1 day) t(d),
             (values ('fatigue_risk'), ('sms_clickers_14d'), ('purchasers_7d')) v(c)
        where extract(day from d) <> 7""")
    con.execute("""
        insert into msgmetrics_ledger.amplitude_user_property_log
        select 'default', 'user-' || i, 'cio_cohort_fatigue_risk', 'unset', timestamp '2026-11-02 09:00' + to_days(cast(i % 3 as integer)), 'r'
        from range(7) t(i)""")
    con.close()
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    history = figure(html, "cohort-history")
    assert "marts.cohort_sizes_daily" in history and "Gaps: no build that day." in history
    assert re.findall(r'data-mini="([^"]+)"', history) == ["fatigue_risk", "sms_clickers_14d", "purchasers_7d (not pushed)"]
    assert history.count("<polyline") == 3 * 2  # each line breaks at the missing day
    assert "fatigue_risk 24" in history and "Oct 14 – fatigue_risk: 24" in history  # Oct 14: 10 + 14
    assert "+36 / −24" in history and "+0 / −0" in history  # 12 days after the first build, Oct 7 missing
    flow = figure(html, "cohort-flow")  # the cohort that moved; the first build (Oct 1) left out
    assert "2026-10-02 to 2026-10-14: 36 entries and 24 exits" in flow and "2026-10-01" not in flow
    assert "sms_clickers_14d" not in flow and "purchasers_7d" not in flow
    changes = section(html, "entries-exits")
    (sets,) = fetch(warehouse, "select count(*) from msgmetrics_ledger.amplitude_user_property_log "
                               "where property_name = 'cio_cohort_fatigue_risk' and operation = 'set'")[0]
    assert (f'<td>fatigue_risk</td><td>cohort</td><td><code>cio_cohort_fatigue_risk</code></td>'
            f'<td class="num">{sets:,}</td><td class="num">7</td><td class="num">{sets - 7:+,}</td>') in changes
    drawn_exits = re.findall(r'fill-opacity="0.5"><title>[^<]* exits: (\d+)</title>', figure(html, "cohort-changes"))
    assert sum(map(int, drawn_exits)) == 7 and len(drawn_exits) == 3  # 3 + 2 + 2 on Nov 2, 3, 4
    assert len(re.findall(r'data-chart="', html)) == len(CHARTS) + 2


def test_one_more_build_draws_the_history_and_its_exits(demo_warehouse, tmp_path):
    """The real history: a second build a day later (windows close, people leave) through the CLI."""
    warehouse = copy_of(demo_warehouse, tmp_path)
    (as_of,) = fetch(warehouse, "select max(as_of) from marts.cohort_membership")[0]
    run_cli(warehouse, "build", "--as-of", f"{as_of + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}")
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    sizes = dict(fetch(warehouse, "select cohort_name, members from marts.cohort_sizes_daily where day = "
                                  "(select max(day) from marts.cohort_sizes_daily)"))
    history = figure(html, "cohort-history")
    for name, members in sizes.items():
        assert f"{name} {members:,}" in history, name
    exits = fetch(warehouse, """
        select sum(exited), sum(entered) from marts.cohort_sizes_daily
        where day = (select max(day) from marts.cohort_sizes_daily)""")[0]
    assert exits[0] > 0, "a day later somebody has left a window cohort"
    day = as_of.date() + timedelta(days=1)
    assert f"{day} to {day}: {exits[1]:,} entries and {exits[0]:,} exits" in figure(html, "cohort-flow")


def test_a_warehouse_without_marts_gets_notes_not_a_crash(tmp_path):
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    for section_id in SECTIONS:
        assert 'data-status="empty"' in section(html, section_id), section_id
    assert "<svg" not in html and 'class="section-error"' not in html and 'data-expected-charts="0"' in html
    assert "No data yet: <code>marts.cohort_membership</code> does not exist: run <code>msgmetrics build</code>" in html
    assert "nothing was pushed to Amplitude yet: run <code>msgmetrics push</code>" in section(html, "entries-exits")
    assert "no runs recorded yet" in section(html, "runs") and "overall: unknown" in html


def test_empty_tables_get_notes_not_a_crash(demo_warehouse, tmp_path):
    warehouse = copy_of(demo_warehouse, tmp_path)
    con = duckdb.connect(str(warehouse))
    for table in ("marts.cohort_membership", "marts.cohort_sizes_daily", "marts.audience_assignments",
                  "msgmetrics_ledger.amplitude_user_property_log", "msgmetrics_ledger.push_runs",
                  "marts.fct_message_deliveries", "marts.fct_message_events", "marts.dim_message_intents",
                  "marts.rpt_messages_without_intent", "marts.rpt_identity_coverage", "msgmetrics_ledger.runs",
                  "marts.fct_message_metrics_daily"):
        con.execute(f"delete from {table}")
    con.close()
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    assert 'class="section-error"' not in html
    for section_id in SECTIONS:
        if section_id != "freshness":
            assert 'data-status="empty"' in section(html, section_id), section_id
    assert html.count("is empty") >= 9
    # the raw tables still hold what was loaded: freshness draws their loads, and only that
    assert re.findall(r'data-chart="([\w-]+)"', html) == ["freshness"]
    freshness = section(html, "freshness")
    assert "<td>webhooks loaded</td>" in freshness and "<td>newest event</td><td><code>" in freshness
    assert "no rows yet" in figure(html, "freshness")


def test_a_broken_table_costs_one_section_not_the_page(demo_warehouse, tmp_path):
    warehouse = copy_of(demo_warehouse, tmp_path)
    con = duckdb.connect(str(warehouse))
    con.execute("alter table marts.rpt_identity_coverage drop column outcome")  # schema drift
    con.close()
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    identity = section(html, "identity")
    assert "marts.rpt_identity_coverage</code> exists but it has no column(s) outcome" in identity
    assert len(re.findall(r'data-chart="', html)) == len(CHARTS) - 1


@pytest.mark.parametrize("source, label, raw_table", [
    ("api", "App API deliveries", "raw_customerio_api.messages"),
    ("dw-sync", "Data Warehouse Sync", "raw_customerio_dw.deliveries"),
])
def test_a_warehouse_fed_by_one_other_source(single_source_demos, source, label, raw_table, tmp_path):
    warehouse, _ = single_source_demos[source]
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    assert 'class="section-error"' not in html
    for section_id in SECTIONS:
        assert 'data-status="ok"' in section(html, section_id), (source, section_id)
    (event_source, events), = fetch(warehouse, "select event_source, count(*) from marts.fct_message_events "
                                               "where occurred_on is not null group by 1")
    assert event_source == {"api": "app_api", "dw-sync": "dw_sync"}[source]
    drawn = re.search(r"<svg .*?</svg>", figure(html, "source-events"), re.S).group(0)
    assert f"{label} {events:,} (100.0%)" in drawn and "webhooks" not in drawn  # one source in the legend and bars
    (deliveries,) = fetch(warehouse, "select count(*) from marts.fct_message_deliveries")[0]
    assert f"All {deliveries:,} deliveries in <code>marts.fct_message_deliveries</code> come from {label}" in html
    freshness = section(html, "freshness")
    assert f"<td>{label} loaded</td>" in freshness and "<td>webhooks loaded</td>" not in freshness
    assert raw_table.split(".")[0] in freshness
    for channel, delivered, opened in fetch(warehouse, """
            select channel, count(*) filter (where was_delivered), count(*) filter (where was_delivered and was_human_opened)
            from marts.fct_message_deliveries group by 1 having count(*) filter (where was_delivered) > 0"""):
        assert f"{channel}: {delivered:,} delivered, {opened:,} human opens" in figure(html, "funnel-channel")
    for name, members in fetch(warehouse, "select cohort_name, count(*) from marts.cohort_membership group by 1"):
        assert f"{name} {members:,} (" in figure(html, "cohort-sizes")


def test_built_but_never_pushed(warehouse, tmp_path):
    """Webhooks loaded and built, no push and no App API names: the push sections say what to run,
    and every message without a name is listed without an intent."""
    html = build_report(warehouse, tmp_path / "r.html").read_text()
    assert 'class="section-error"' not in html
    assert "Amplitude environment <code>default</code> · nothing pushed yet" in html
    assert 'data-status="empty"' in section(html, "entries-exits")
    assert "run <code>msgmetrics push</code>" in section(html, "entries-exits")
    runs = section(html, "runs")
    assert 'data-nodata="pushes"' in runs and "nothing was pushed to Amplitude yet" in runs
    assert [c for c in re.findall(r'data-chart="([\w-]+)"', html) if c in ("runs", "pushes", "cohort-changes")] == ["runs"]
    commands = [c for (c,) in fetch(warehouse, "select command from msgmetrics_ledger.runs order by started_at")]
    assert commands and all(f"{c} · " in figure(html, "runs") for c in commands)
    (without, deliveries) = fetch(warehouse, "select count(*), sum(deliveries) from marts.rpt_messages_without_intent")[0]
    assert without > 0, "without App API names no name pattern matches"
    callout = section(html, "without-intent")
    assert f'data-count="{without}"' in callout and f"({deliveries:,} deliveries) have no intent" in callout
    assert f"{without:,} messages without intent" in re.search(r'<header class="top">.*?</header>', html, re.S).group(0)


def test_the_ledger_of_another_environment(demo_warehouse, tmp_path):
    out = tmp_path / "staging.html"
    proc = run_cli(demo_warehouse, "report", "--env", "staging", "--out", str(out))
    assert f"report written to {out}" in proc.stdout
    html = out.read_text()
    assert "Amplitude environment <code>staging</code> · the ledger holds pushes to default (1 push)" in html
    changes = section(html, "entries-exits")
    assert "for environment <code>staging</code>" in changes and "msgmetrics report --env default" in changes
    runs = section(html, "runs")
    assert "No push to environment <code>staging</code> yet" in runs
    assert "to environment default (not shown: msgmetrics report --env default)" in runs
    assert "pushes" not in re.findall(r'data-chart="([\w-]+)"', html)

    # the module entry point takes the same --env
    module_out = tmp_path / "module.html"
    module = subprocess.run([sys.executable, "-m", "msgmetrics.report", str(demo_warehouse), str(module_out),
                             "--env", "staging"], capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout.strip() == str(module_out), module.stderr
    assert "Amplitude environment <code>staging</code> · the ledger holds pushes to default (1 push)" in (
        module_out.read_text())
    usage = subprocess.run([sys.executable, "-m", "msgmetrics.report"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: python -m msgmetrics.report" in usage.stderr


def test_read_only_and_refused_while_a_writer_holds_the_file(demo_warehouse, tmp_path):
    warehouse = copy_of(demo_warehouse, tmp_path)
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    reader = duckdb.connect(str(warehouse), read_only=True)  # other readers are fine
    try:
        build_report(warehouse, tmp_path / "r.html")
    finally:
        reader.close()
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before  # nothing written

    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "time.sleep(60)", str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy, match="another process is writing it"):
            build_report(warehouse, tmp_path / "r2.html")
    finally:
        writer.kill()
        writer.wait()
    assert not (tmp_path / "r2.html").exists()
    with pytest.raises(FileNotFoundError, match="no warehouse at"):
        build_report(tmp_path / "nope.duckdb", tmp_path / "r3.html")


# ---------------------------------------------------------------- in a real headless Chromium
def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing: install the Debian package `chromium` "
                   "(apt-get update && apt-get install -y --no-install-recommends chromium) to run the browser tests")
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs it: in CI a missing browser is a failure
        pytest.skip(message)
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def rendered(tmp_path: Path, page: Path) -> tuple[str, dict[str, int]]:
    """The page's <body> tag after Chromium ran its script, and the marks it drew per chart."""
    dom = chromium(tmp_path, "--window-size=1280,4000", "--dump-dom", page.as_uri()).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    marks = {c: int(n) for c, n in re.findall(
        r'<figure class="chart" data-chart="([\w-]+)"[^>]*data-marks-drawn="(\d+)"[^>]*><div class="svg-wrap"><svg ', dom)}
    return body, marks


def test_chromium_renders_every_chart(report, demo_warehouse, tmp_path):
    path, html = report
    body, marks = rendered(tmp_path, path)
    assert 'data-rendered="ok"' in body, body  # the inline check ran: every chart's SVG has geometry, no JS error
    assert f'data-charts-rendered="{len(CHARTS)}"' in body
    assert int(re.search(r'data-page-height="(\d+)"', body).group(1)) > 3000
    assert list(marks) == list(CHARTS) and all(marks.values()), marks

    def count(sql: str) -> int:
        return fetch(demo_warehouse, sql)[0][0]

    # what the browser drew is what the marts hold: one bar segment per non-zero number
    assert marks["cohort-sizes"] == count("""select sum((k > 0)::int + (n - k > 0)::int) from (
        select count(*) n, count(amplitude_user_id) k from marts.cohort_membership group by cohort_name)""")
    assert marks["audiences"] == count("""select sum((pushable > 0)::int + (unresolved > 0)::int + (suppressed > 0)::int
        + (outranked > 0)::int) from (select audience_name,
            count(*) filter (where status = 'assigned' and amplitude_user_id is not null) pushable,
            count(*) filter (where status = 'assigned' and amplitude_user_id is null) unresolved,
            count(*) filter (where status = 'suppressed') suppressed, count(*) filter (where status = 'outranked') outranked
        from marts.audience_assignments group by 1)""")
    assert marks["funnel-channel"] == count("""select sum((d > 0)::int + (o > 0)::int + (c > 0)::int) from (
        select count(*) filter (where was_delivered) d, count(*) filter (where was_delivered and was_human_opened) o,
               count(*) filter (where was_delivered and was_human_clicked) c
        from marts.fct_message_deliveries group by channel) where d > 0""")
    assert marks["identity-coverage"] == count("select count(*) from marts.rpt_identity_coverage where n > 0")
    assert marks["source-events"] == count("select count(distinct occurred_on) from marts.fct_message_events")
    assert marks["runs"] == count("select count(*) from msgmetrics_ledger.runs")
    assert marks["pushes"] == count("""select sum((events_accepted > 0)::int + (events_rejected > 0)::int
        + (select (count(*) filter (where operation = 'set') > 0)::int + (count(*) filter (where operation = 'unset') > 0)::int
           from msgmetrics_ledger.amplitude_user_property_log l where l.run_id = p.run_id))
        from msgmetrics_ledger.push_runs p where not dry_run""")
    for chart_id in CHARTS:
        assert re.search(rf'<figure class="chart" data-chart="{chart_id}"', html), chart_id


@pytest.mark.parametrize("source", ["api", "dw-sync"])
def test_chromium_renders_a_single_source_report(single_source_demos, source, tmp_path):
    warehouse, _ = single_source_demos[source]
    page = build_report(warehouse, tmp_path / "r.html")
    expected = re.findall(r'data-chart="([\w-]+)"', page.read_text())
    body, marks = rendered(tmp_path, page)
    assert 'data-rendered="ok"' in body, body
    assert list(marks) == expected and all(marks.values()), marks
    assert {"cohort-sizes", "audiences", "funnel-channel", "funnel-intent", "source-events", "pushes"} <= set(marks)


def test_the_render_check_catches_a_missing_chart(report, tmp_path):
    """The data-rendered marker is not vacuous: a figure without its SVG turns it into an error."""
    _, html = report
    broken = re.sub(r'(<figure class="chart" data-chart="runs"[^>]*><div class="svg-wrap">)<svg .*?</svg>', r"\1",
                    html, count=1, flags=re.S)
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    body = re.search(r"<body[^>]*>", chromium(tmp_path, "--dump-dom", page.as_uri()).stdout).group(0)
    assert 'data-rendered="error: charts that did not draw: runs"' in body, body


def test_the_screenshot_is_a_real_picture(report, tmp_path):
    path, _ = report
    png = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,4000", path.as_uri())
    assert png.exists() and png.stat().st_size > 20_000, "blank or missing screenshot"
    pixels = decode_png(png.read_bytes())
    assert pixels.shape[:2] == (4000, 1280)
    rgb = pixels[:, :, :3].reshape(-1, 3).astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    colours = np.unique(packed)
    assert len(colours) > 200, f"only {len(colours)} distinct colours"
    for name, (r, g, b) in (("blue", BLUE), ("orange", ORANGE), ("green", GREEN)):
        painted = int((packed == (r << 16 | g << 8 | b)).sum())
        assert painted > 2_000, f"the charts' {name} #{r:02x}{g:02x}{b:02x} covers only {painted} pixels"


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) -> array (height, width, channels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], np.frombuffer(raw, np.uint8, stride, start + 1)
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: running sum per channel
            row = (np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint32) % 256).astype(np.uint8).ravel()
        elif kind == 2:  # Up
            row = line + prev
        else:  # Average or Paeth: sequential along the row
            cur, filt, up = bytearray(stride), line.tobytes(), prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (filt[i] + ((a + b) >> 1)) & 255
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (filt[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = np.frombuffer(bytes(cur), np.uint8)
        out[y] = row
        prev = out[y]
    return out.reshape(height, width, bpp)
