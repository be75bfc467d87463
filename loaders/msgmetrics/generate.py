"""Deterministic demo data: a D2C brand ("Fernhill Goods", see :mod:`.demo_brand`) on Customer.io.

``generate(out_dir, people, days, seed)`` writes::

    out_dir/webhooks/events-YYYY-MM-DD.jsonl  reporting-webhook bodies, one per line, one file per UTC day of arrival
    out_dir/orders/orders.jsonl               shop orders (the conversion source)
    out_dir/catalog.json                      campaigns, newsletters, broadcasts, transactional messages
    out_dir/manifest.json                     what was written (counts, files), sorted keys

Each webhook line is exactly the body Customer.io POSTs (customerio-formats.md §1.3-1.7):
``{"event_id", "object_type", "metric", "timestamp", "data"}``, ``timestamp`` in integer unix seconds,
``data`` = the parent-kind fields of §1.4 (campaign / broadcast / newsletter / transactional) plus the
per-metric fields of §1.6; ``identifiers`` = ``{id, email, cio_id}`` (email-or-ID workspace, §4.1).

Realism the loader and the models have to cope with:

* people: ~85 % id+email, ~10 % email-only (``id`` null, ``customer_id`` ""), ~5 % id-only app users
  (``email`` null, phone or push device); a few pairs of ids share one email; ~15 % of stored emails
  are mixed case (``Maria.Lopez42@Example.com``) while ``orders.jsonl`` carries lower-case emails.
* behaviour segments: engagers (click a lot, incl. SMS), fatigued (many emails, never click),
  lapsed (engaged until 30-90 days before ``end``, then cold), regular; plus cart-prone shoppers.
* machine activity: Apple-MPP / Gmail prefetch opens (``prefetched``/``proxied``) seconds after
  delivery, link-scanner clicks (``machine: true``), ``synthetic`` opens for clicks without an open.
* ~1 % of events re-delivered with the same ``event_id`` and body (webhook retries), ~2 % written
  1-3 days after their timestamp's day, files only roughly time-ordered, ~0.02 % events with a
  metric/object_type outside the documented set (``email.deferred``, ``live_notification.sent``).

Volume: about ``EVENTS_PER_PERSON_DAY`` (~0.67) webhook lines per person per day, i.e. ~0.26
deliveries per person per day (~75 % email, 15 % SMS, 10 % push) at ~2.6 events per delivery,
plus ~0.004 orders per person per day. Short runs (< 2 weeks) run ~10 % hotter. Volume is linear
in people x days; :func:`people_for_events` inverts it (1M events over 90 days ~ 16.6k people).

Code layout: :mod:`.demo_brand` (catalog), :mod:`.demo_people` (people, id formats),
:mod:`.demo_sim` (day-by-day funnels and serialization); this module schedules, routes events to
arrival-day files and writes the manifest.

Determinism: all randomness comes from ``numpy.random.default_rng`` generators seeded with
``(seed, stream[, day])``; no wall clock, no global RNG, no set iteration. Same arguments ->
byte-identical output.

Memory: the simulation runs one calendar day at a time, in chunks of deliveries. Only per-person
state (O(people)), the lines of the file being completed and the lines that will *arrive* on a
later day (follow-up opens, late events, retries) are kept, so memory does not grow with
``days``: peak RSS ~100 MB for 1M events and ~450 MB for 10M (90 days) on the reference box.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import orjson

from . import demo_brand as brand
from .demo_people import DAY, UTC, People, delivery_ids, iso, make_people, rng_for, ulids
from .demo_sim import CUSTOMER, Simulation, key_name

__all__ = ["DEFAULT_END", "EVENTS_PER_PERSON_DAY", "generate", "make_people", "people_for_events"]

DEFAULT_END = dt.datetime(2026, 11, 1, tzinfo=UTC)

# Calibrated on seeds 1-2 (days 30..365): webhook lines written (incl. retries) per person per day.
EVENTS_PER_PERSON_DAY = 0.67

LATE_RATE = 0.02  # share of events written 1-3 days after their timestamp's day
RETRY_RATE = 0.01  # share of events written a second time (same event_id and body)


# --- schedule, writer, entry point ----------------------------------------------------------
def _schedule(seed: int, start_ts: int, end_ts: int, day0: int, n_days: int):
    """Newsletter issues (calendar-driven) and flash-sale triggers (every 6-12 days, alternating channel)."""
    issues, newsletter_days = [], {}
    for day in range(n_days):
        date = dt.datetime.fromtimestamp(day0 + day * DAY, UTC).date()
        for series, (_, weekday, hour, _, _) in enumerate(brand.NEWSLETTER_SERIES):
            t_send = day0 + day * DAY + hour * 3600
            if date.weekday() == weekday and start_ts <= t_send < end_ts:
                newsletter_days.setdefault(day, []).append((t_send, len(issues), series))
                issues.append((series, date.isoformat(), iso(t_send)))
    rng = rng_for(seed, 2)
    flash_days, day, k = {}, int(rng.integers(2, 8)), 0
    channels = ("push", "sms") if rng.random() < 0.5 else ("sms", "push")
    while day < n_days:
        t_trig = day0 + day * DAY + 17 * 3600 + int(rng.integers(0, 3600))
        flash_days.setdefault(day, []).append((t_trig, k + 1, channels[k % 2]))
        day, k = day + int(rng.integers(6, 13)), k + 1
    return issues, newsletter_days, flash_days


def _bad_line_plan(n_bad: int, P: People, day0: int, n_days: int, seed: int) -> dict[int, list]:
    """``day -> [(position fraction, line)]``; kinds cycle so every kind appears once n_bad >= 5."""
    rng = rng_for(seed, 3)
    emailable = np.nonzero(P.has_email)[0]
    plan: dict[int, list] = {}
    for k in range(n_bad):
        day = int(rng.integers(0, n_days))
        ts = day0 + day * DAY + int(rng.integers(0, DAY))
        i = int(emailable[rng.integers(0, len(emailable))]) if len(emailable) else 0
        body = {"event_id": str(ulids(np.array([ts]), rng)[0]), "object_type": "email", "metric": "delivered",
                "timestamp": ts,
                "data": {"campaign_id": 102, "action_id": 1021, "delivery_id": str(delivery_ids(1, rng)[0]),
                         "customer_id": P.customer_id(i), "identifiers": P.ident[i],
                         "recipient": P.emails[i], "subject": brand.BROWSE_EMAIL.subject}}
        kind = k % 5
        if kind == 1:
            del body["event_id"]
        elif kind == 2:
            body["timestamp"] = iso(ts)  # "2026-10-01T00:00:00Z"
        elif kind == 3:
            body["timestamp"] = ts + 0.5  # float seconds
        elif kind == 4:
            del body["metric"]
        line = orjson.dumps(body)
        if kind == 0:
            line = line[: len(line) // 2]  # truncated JSON
        plan.setdefault(day, []).append((float(rng.random()), line))
    return plan


class _Writer:
    """Routes serialized events to the file of their arrival day and writes one day at a time."""

    def __init__(self, out: Path, day0: int, n_days: int, bad_plan: dict):
        self.out, self.day0, self.n_days, self.bad_plan = out, day0, n_days, bad_plan
        self.buf: dict[int, list] = {}  # arrival day -> [(arrival times, lines)]
        self.counts = np.zeros(CUSTOMER * 16 + 16, np.int64)
        self.distinct = self.dups = self.written = 0
        self.files: list[str] = []

    def route(self, ts: np.ndarray, lines: list, combos: np.ndarray, rng: np.random.Generator):
        """Pick each event's arrival time (latency, late delivery, retries) and buffer it by arrival day."""
        n = len(lines)
        self.counts += np.bincount(combos, minlength=len(self.counts))
        self.distinct += n
        arrival = ts + 1 + rng.exponential(20, n).astype(np.int64)  # webhook latency -> slightly out of order
        late = rng.random(n) < LATE_RATE  # held back 1-3 days (failing endpoint, retry backlog)
        k = int(late.sum())
        ts_day = (ts[late] - self.day0) // DAY
        arrival[late] = self.day0 + (ts_day + rng.integers(1, 4, k)) * DAY + rng.integers(0, DAY, k)
        dup = np.nonzero(rng.random(n) < RETRY_RATE)[0]  # retried: same body again, minutes or days later
        retry_delay = np.where(rng.random(len(dup)) < 0.5, rng.integers(60, 3 * 3600, len(dup)),
                               rng.integers(DAY, 3 * DAY, len(dup)))
        self.dups += len(dup)
        arrival = np.concatenate([arrival, arrival[dup] + retry_delay])
        lines = lines + [lines[i] for i in dup.tolist()]
        # arrivals after the last day are written to the last file (the data set ends there)
        arr_day = np.minimum((arrival - self.day0) // DAY, self.n_days - 1)
        order = np.argsort(arr_day, kind="stable")
        days_sorted = arr_day[order]
        cuts = np.flatnonzero(np.diff(days_sorted)) + 1
        for chunk in np.split(order, cuts):
            if len(chunk):
                self.buf.setdefault(int(arr_day[chunk[0]]), []).append(
                    (arrival[chunk], [lines[i] for i in chunk.tolist()]))

    def flush(self, day: int, date: dt.date):
        parts = self.buf.pop(day, [])
        arrival = np.concatenate([a for a, _ in parts]) if parts else np.empty(0, np.int64)
        lines = [line for _, ls in parts for line in ls]
        lines = [lines[i] for i in np.argsort(arrival, kind="stable").tolist()]
        self.written += len(lines)
        for frac, bad in self.bad_plan.get(day, ()):
            lines.insert(int(frac * (len(lines) + 1)), bad)
        rel = f"webhooks/events-{date.isoformat()}.jsonl"
        with open(self.out / rel, "wb") as fh:
            for lo in range(0, len(lines), 10_000):  # in slices: one big join would double the memory
                fh.write(b"\n".join(lines[lo:lo + 10_000]) + b"\n")
        self.files.append(rel)


def _write_orders(fh, orders: list, P: People, n_written: int) -> int:
    """Append one day's orders sorted by time (ids sequential in time order); returns the new total."""
    if not orders:
        return n_written
    p, t, rev, with_email = (np.concatenate(c) for c in zip(*orders))
    for j in np.argsort(t, kind="stable").tolist():
        n_written += 1
        i = int(p[j])
        cid, email = P.ids[i], P.emails[i]
        fh.write(orjson.dumps({
            "order_id": f"ord-{n_written:07d}", "customer_id": cid,
            # email-only people are known by email; others sometimes also send it
            "email": email.lower() if email is not None and (cid is None or with_email[j]) else None,
            "ordered_at": iso(int(t[j])), "revenue": float(rev[j]), "currency": "USD"}) + b"\n")
    return n_written


def people_for_events(target_events: int, days: int) -> int:
    """People count that yields about ``target_events`` webhook lines over ``days`` days."""
    return max(1, round(target_events / (EVENTS_PER_PERSON_DAY * days)))


def generate(out_dir, people: int, days: int, seed: int, end: dt.datetime = DEFAULT_END,
             bad_lines: int = 0) -> dict:
    """Write the demo data set for ``people`` people over the ``days`` days before ``end``.

    ``end`` is a datetime (naive = UTC). Existing ``webhooks/events-*.jsonl`` files in ``out_dir``
    are removed first so the directory holds exactly one run. Returns the manifest (also written
    to ``manifest.json``; its ``files`` lists every written file except the manifest itself).
    There is one webhook file per UTC calendar day touched by ``[end - days, end)``; events that
    would arrive after the last day (late or retried near ``end``) go into the last file.
    ``counts_by_metric`` counts distinct events (retries excluded), so its sum equals
    ``distinct_event_ids``; ``events_written`` counts lines including retries and excluding the
    ``bad_lines`` malformed ones.
    """
    if people < 1 or days < 1 or seed < 0 or bad_lines < 0:
        raise ValueError("people and days must be >= 1, seed and bad_lines >= 0")
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    start = end - dt.timedelta(days=days)
    start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
    day0 = start_ts - start_ts % DAY  # midnight UTC of the first calendar day
    n_days = (end_ts - 1 - day0) // DAY + 1  # calendar days touched by [start, end)

    issues, newsletter_days, flash_days = _schedule(seed, start_ts, end_ts, day0, n_days)
    catalog, msgs, issue_msgs = brand.build_catalog(issues)
    P = make_people(people, seed, start_ts, end_ts)
    sim = Simulation(P, msgs, start_ts, end_ts, day0, issue_msgs, newsletter_days, flash_days)

    out = Path(out_dir)
    (out / "webhooks").mkdir(parents=True, exist_ok=True)
    (out / "orders").mkdir(parents=True, exist_ok=True)
    for stale in sorted((out / "webhooks").glob("events-*.jsonl")):
        stale.unlink()
    writer = _Writer(out, day0, n_days, _bad_line_plan(bad_lines, P, day0, n_days, seed))
    n_orders = 0
    with open(out / "orders" / "orders.jsonl", "wb") as orders_fh:
        order_buf: dict[int, list] = {}  # order day -> order columns, written once the day is complete
        for day in range(n_days):
            route_rng = rng_for(seed, 4, day)
            for ts, lines, combos in sim.run_day(day, rng_for(seed, 1, day)):
                writer.route(ts, lines, combos, route_rng)
            for p, t, rev, with_email in sim.orders:
                order_day = (t - day0) // DAY
                for u in np.unique(order_day).tolist():
                    sel = order_day == u
                    order_buf.setdefault(u, []).append((p[sel], t[sel], rev[sel], with_email[sel]))
            # no later simulated day can create events or orders timed on `day`
            writer.flush(day, dt.datetime.fromtimestamp(day0 + day * DAY, UTC).date())
            n_orders = _write_orders(orders_fh, order_buf.pop(day, []), P, n_orders)

    (out / "catalog.json").write_bytes(orjson.dumps(catalog, option=orjson.OPT_INDENT_2) + b"\n")
    manifest = {
        "seed": seed, "people": people, "days": days, "start": iso(start_ts), "end": iso(end_ts),
        "events_written": writer.written, "distinct_event_ids": writer.distinct,
        "duplicate_events": writer.dups, "bad_lines": bad_lines, "orders": n_orders,
        "files": sorted(writer.files + ["orders/orders.jsonl", "catalog.json"]),
        "counts_by_metric": {key_name(c): int(v) for c, v in enumerate(writer.counts.tolist()) if v},
    }
    (out / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return manifest
