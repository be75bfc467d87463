"""Day-by-day simulation of the demo brand's messaging (used by :mod:`msgmetrics.generate`).

One calendar day: trigger journeys (cart, browse, winback, post-purchase follow-ups scheduled
earlier), newsletters and flash-sale broadcasts -> deliveries -> per-channel funnels (vectorised
with numpy) -> click-driven orders and ``converted`` events -> order confirmations -> customer
events. Every batch is serialized right away to reporting-webhook lines with orjson.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from . import demo_brand as brand
from .demo_people import DAY, FATIGUED, UTC, People, delivery_ids, ulids

CHUNK = 20_000  # deliveries simulated and serialized at once: bounds memory on big newsletter days

# Events with a metric/object_type outside §1.5, per email delivery (~0.02 % of all events):
DEFERRED_RATE, LIVE_NOTIFICATION_RATE = 0.0004, 0.0003

# --- internal event table codes -------------------------------------------------------------
SENT, DELIVERED, OPENED, CLICKED, CONVERTED, UNSUBSCRIBED, SPAMMED, BOUNCED, DEFERRED, LIVE_SENT = range(10)
METRICS = ("sent", "delivered", "opened", "clicked", "converted", "unsubscribed", "spammed", "bounced",
           "deferred", "sent")
CHANNELS = ("email", "sms", "push")
PROXIED, PREFETCHED, SYNTHETIC, MACHINE = 1, 2, 4, 8  # flag bits for opens / clicks
CUSTOMER = 3  # pseudo channel for customer events: code 0 = subscribed, 1 = unsubscribed


def key_name(combo: int) -> str:
    """Manifest ``counts_by_metric`` key for ``channel * 16 + code``."""
    ch, code = divmod(combo, 16)
    if ch == CUSTOMER:
        return "customer." + ("subscribed", "unsubscribed")[code]
    if code == LIVE_SENT:
        return "live_notification.sent"
    return f"{CHANNELS[ch]}.{METRICS[code]}"


FAILURES = (  # email / SMS failure_message; email index 0 = hard bounce of a dead address
    ("550 5.1.1 The email account that you tried to reach does not exist.",
     "552 5.2.2 The recipient's mailbox is full.",
     "550 5.7.1 Message rejected due to local policy."),
    ("Twilio error 30003: Unreachable destination handset",
     "Twilio error 30005: Unknown destination handset",
     "Twilio error 30006: Landline or unreachable carrier"),
)
PUSH_FAILURES = {"ios": ("Unregistered", "BadDeviceToken"), "android": ("NotRegistered", "InvalidRegistration")}
DEFERRED_MESSAGE = "421 4.7.0 Temporary System Problem. Try again later."

# share of activity per UTC hour (US-centred shop: evenings US time = 22-04 UTC)
HOUR_P = np.array([6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 6, 6, 7, 7, 7], float)
HOUR_P /= HOUR_P.sum()

# --- deliveries and events ------------------------------------------------------------------
@dataclass
class _Sends:
    """A batch of deliveries (one message to one person each)."""

    p: np.ndarray  # person index
    t: np.ndarray  # send time, unix s
    m: np.ndarray  # message index into the catalog's message table
    journey: np.ndarray  # object: journey_id (campaigns, broadcasts) or None
    trigger: np.ndarray  # object: trigger_event_id (campaigns) or None
    trigger_id: np.ndarray  # broadcast trigger id, 0 otherwise

    @staticmethod
    def of(p, t, m, journey=None, trigger=None, trigger_id=0) -> "_Sends":
        """``m``, ``trigger_id``: scalar or per-send array; ``journey``, ``trigger``: arrays or None."""
        n = len(p)
        obj = lambda v: np.full(n, None, object) if v is None else np.asarray(v).astype(object)  # noqa: E731
        return _Sends(np.asarray(p, np.int64), np.asarray(t, np.int64), np.full(n, m, np.int64),
                      obj(journey), obj(trigger), np.broadcast_to(np.asarray(trigger_id, np.int64), (n,)).copy())

    def __getitem__(self, sel) -> "_Sends":
        return _Sends(self.p[sel], self.t[sel], self.m[sel], self.journey[sel], self.trigger[sel], self.trigger_id[sel])

    @staticmethod
    def concat(parts: list["_Sends"]) -> "_Sends":
        return _Sends(*(np.concatenate([getattr(s, f) for s in parts])
                        for f in ("p", "t", "m", "journey", "trigger", "trigger_id")))


class _Events:
    """Columnar events of one batch: delivery index, metric code, timestamp, flag bits, aux
    (link index for clicks, failure message index for bounces)."""

    def __init__(self):
        self.parts = []

    def add(self, d, code, ts, flag=0, aux=0):
        if len(d):
            n = len(d)
            self.parts.append((d, np.full(n, code, np.int8), np.asarray(ts, np.int64),
                               np.broadcast_to(np.asarray(flag, np.int8), (n,)),
                               np.broadcast_to(np.asarray(aux, np.int16), (n,))))

    def columns(self):
        if not self.parts:
            return [np.empty(0, t) for t in (np.int64, np.int8, np.int64, np.int8, np.int16)]
        return [np.concatenate(c) for c in zip(*self.parts)]


def _dumps(obj) -> bytes:
    """orjson.dumps, copied into an exact-size bytes object: orjson 3.13 returns bytes that keep
    a ~4 KiB buffer each, which made a 400k-event newsletter day hold ~2 GB of lines."""
    return bytes(memoryview(orjson.dumps(obj)))


def _lognorm(rng, n, median_s, sigma, cap_s):
    """Integer delays (s) with the given median, clipped to [1, cap_s]."""
    return np.clip(median_s * np.exp(sigma * rng.standard_normal(n)), 1, cap_s).astype(np.int64)


def _times(rng, n, day_start):
    """``n`` times in the day starting at ``day_start``, following the shop's hourly activity."""
    return day_start + rng.choice(24, n, p=HOUR_P) * 3600 + rng.integers(0, 3600, n)


class Simulation:
    """Simulation state across days; ``run_day`` returns the day's serialized events."""

    def __init__(self, people: People, msgs: list, start_ts: int, end_ts: int, day0: int,
                 issue_msgs: list, newsletter_days: dict, flash_days: dict):
        self.P, self.msgs = people, msgs
        self.start, self.end, self.day0 = start_ts, end_ts, day0
        self.issue_msgs, self.newsletter_days, self.flash_days = issue_msgs, newsletter_days, flash_days
        self.idx = {m.name: i for i, m in enumerate(msgs)}
        col = lambda f: np.array([f(m) for m in msgs])  # noqa: E731
        self.ch = col(lambda m: CHANNELS.index(m.channel))
        self.n_links = col(lambda m: len(m.links))
        self.open_mult, self.click_mult = col(lambda m: m.open_mult), col(lambda m: m.click_mult)
        self.order_6h, self.order_3d = col(lambda m: m.order_6h), col(lambda m: m.order_3d)
        self.converts, self.marketing = col(lambda m: m.converts), col(lambda m: m.marketing)
        self.pending: dict[int, list[_Sends]] = {}  # day -> post-purchase follow-ups scheduled earlier
        self.orders: list[tuple] = []  # orders created while simulating the current day

    # ---- channels: each appends the funnel of deliveries `ix` of batch `S` to `ev` ----------
    def _email(self, ev, ix, S, first_click, rng):
        P, n = self.P, len(ix)
        p, t, m = S.p[ix], S.t[ix], S.m[ix]
        r = rng.random((n, 12))
        ev.add(ix, SENT, t)
        t_del = t + 1 + rng.integers(0, 10, n)
        bounced = P.bad_email[p] | (r[:, 0] < 0.015)
        ok = ~bounced
        ev.add(ix[bounced], BOUNCED, t_del[bounced], aux=np.where(P.bad_email[p], 0, 1 + (r[:, 0] < 0.005))[bounced])
        ev.add(ix[ok], DELIVERED, t_del[ok])
        active = t < P.cold[p]
        fatigued = P.segment[p] == FATIGUED
        # machine opens: Apple MPP (and sometimes Gmail) prefetch every email shortly after delivery
        mo = ok & ((P.apple[p] & (r[:, 1] < 0.95)) | (P.gmail[p] & (r[:, 1] < 0.05)))
        t_mo = t_del + 2 + rng.exponential(30, n).astype(np.int64)
        ev.add(ix[mo], OPENED, t_mo[mo], PROXIED | PREFETCHED)
        # human reads; a read is tracked as an open unless images are off; Gmail/Apple opens are proxied
        p_read = np.where(active, np.minimum(0.97, P.p_open[p] * self.open_mult[m]), 0.0)
        read = ok & (r[:, 2] < p_read)
        t_read = t_del + _lognorm(rng, n, 2 * 3600, 1.5, 5 * DAY)
        ho = read & ~P.images_off[p]
        proxied = np.where(P.apple[p] | P.gmail[p], PROXIED, 0).astype(np.int8)
        ev.add(ix[ho], OPENED, t_read[ho], proxied[ho])
        reopen = ho & (r[:, 3] < 0.3)
        ev.add(ix[reopen], OPENED, (t_read + _lognorm(rng, n, 3 * 3600, 1.2, 3 * DAY))[reopen], proxied[reopen])
        # human clicks come from readers: P(click | read) = p_click / p_read
        p_click = np.where(active, P.p_click[p] * self.click_mult[m], 0.0)
        hc = read & (r[:, 4] < p_click / np.maximum(p_read, 1e-9))
        t_hc = t_read + 3 + rng.exponential(60, n).astype(np.int64)
        # link scanners click every link (max 3) seconds after delivery
        mc = ok & P.scanner[p] & (r[:, 5] < 0.4)
        t_mc = t_del + 1 + rng.integers(0, 5, n)
        syn_m = mc & ~(mo & (t_mo <= t_mc))  # no open yet -> Customer.io infers one
        ev.add(ix[syn_m], OPENED, t_mc[syn_m], SYNTHETIC)
        for k in range(3):
            sel = mc & (self.n_links[m] > k)
            ev.add(ix[sel], CLICKED, t_mc[sel] + k, MACHINE, k)
        syn_h = hc & ~ho & ~mc & ~(mo & (t_mo <= t_hc))
        ev.add(ix[syn_h], OPENED, t_hc[syn_h], SYNTHETIC)
        first = (r[:, 6] * self.n_links[m]).astype(np.int64)  # first link clicked; later clicks: next links
        t_k = t_hc.copy()
        for k, p_more in enumerate((1.0, 0.25, 0.08)):
            sel = hc & (r[:, 7 + k] < p_more) & (self.n_links[m] > k)
            ev.add(ix[sel], CLICKED, t_k[sel], 0, ((first + k) % np.maximum(self.n_links[m], 1))[sel])
            t_k += 5 + rng.exponential(40, n).astype(np.int64)
        first_click[ix[hc]] = t_hc[hc]
        np.maximum.at(P.last_active, p[ho | hc], np.where(hc, t_hc, t_read)[ho | hc])
        # unsubscribes and spam complaints (marketing only; fatigued people far more often)
        mk = ok & self.marketing[m]
        un = mk & (r[:, 10] < np.where(fatigued, 0.008, 0.002))
        sp = mk & ~un & (r[:, 10] > 1 - np.where(fatigued, 0.002, 0.0003))
        t_un = t_del + _lognorm(rng, n, 3 * 3600, 1.2, 3 * DAY)
        ev.add(ix[un], UNSUBSCRIBED, t_un[un])
        ev.add(ix[sp], SPAMMED, t_un[sp])
        P.unsub[p[un | sp]] = True
        # metrics/object types Customer.io may add without notice
        deferred, live = r[:, 11] < DEFERRED_RATE, r[:, 11] > 1 - LIVE_NOTIFICATION_RATE
        ev.add(ix[deferred], DEFERRED, t[deferred] + 1)
        ev.add(ix[live], LIVE_SENT, t[live] + 2)

    def _sms(self, ev, ix, S, first_click, rng):
        P, n = self.P, len(ix)
        p, t, m = S.p[ix], S.t[ix], S.m[ix]
        r = rng.random((n, 3))
        ev.add(ix, SENT, t)
        t_del = t + 2 + rng.integers(0, 30, n)
        bounced = P.bad_phone[p] | (r[:, 0] < 0.015)
        ok = ~bounced & (r[:, 1] < 0.995)  # the rest never get a carrier receipt
        ev.add(ix[bounced], BOUNCED, t_del[bounced], aux=(r[:, 0] * 1000).astype(np.int64)[bounced] % 3)
        ev.add(ix[ok], DELIVERED, t_del[ok])
        p_click = np.where(t < P.cold[p], P.p_sms_click[p] * self.click_mult[m], 0.0)
        hc = ok & (r[:, 2] < p_click)
        t_hc = t_del + _lognorm(rng, n, 600, 1.3, 2 * DAY)
        ev.add(ix[hc], CLICKED, t_hc[hc])
        first_click[ix[hc]] = t_hc[hc]
        np.maximum.at(P.last_active, p[hc], t_hc[hc])

    def _push(self, ev, ix, S, first_click, rng):
        P, n = self.P, len(ix)
        p, t, m = S.p[ix], S.t[ix], S.m[ix]
        r = rng.random((n, 4))
        ev.add(ix, SENT, t)
        t_del = t + 1 + rng.integers(0, 5, n)
        bounced = P.stale_token[p] | (r[:, 0] < 0.02)
        ok = ~bounced & (r[:, 1] < 0.97)
        ev.add(ix[bounced], BOUNCED, t_del[bounced], aux=(r[:, 1] < 0.3)[bounced])
        ev.add(ix[ok], DELIVERED, t_del[ok])
        p_open = np.where(t < P.cold[p], P.p_push_open[p] * self.open_mult[m], 0.0)
        op = ok & (r[:, 2] < p_open)
        t_op = t_del + _lognorm(rng, n, 1200, 1.5, 2 * DAY)
        hc = op & (r[:, 3] < 0.5)
        t_hc = t_op + 1 + rng.integers(0, 4, n)
        ev.add(ix[op], OPENED, t_op[op])
        ev.add(ix[hc], CLICKED, t_hc[hc])
        first_click[ix[hc]] = t_hc[hc]
        np.maximum.at(P.last_active, p[op], t_op[op])

    # ---- one batch of deliveries: funnel, click-driven orders, serialization --------------
    def _batch(self, S: _Sends, rng) -> Iterator[tuple]:
        """Yield ``(timestamps, lines, metric combos)`` per chunk of the in-range deliveries."""
        S = S[(S.t >= self.start) & (S.t < self.end)]
        for lo in range(0, len(S.p), CHUNK):
            yield self._chunk(S[lo:lo + CHUNK], rng)

    def _chunk(self, S: _Sends, rng) -> tuple:
        n = len(S.p)
        dids = delivery_ids(n, rng).tolist()
        ev, first_click = _Events(), np.full(n, -1, np.int64)
        ch = self.ch[S.m]
        for c, funnel in enumerate((self._email, self._sms, self._push)):
            ix = np.nonzero(ch == c)[0]
            if len(ix):
                funnel(ev, ix, S, first_click, rng)
        # orders caused by a human click: ~25 % of cart clicks within 6 h, others after 1-3 days
        d = np.nonzero(first_click >= 0)[0]
        m, r = S.m[d], rng.random((len(d), 2))
        soon = r[:, 0] < self.order_6h[m]
        later = ~soon & (r[:, 0] < self.order_6h[m] + self.order_3d[m])
        t_ord = first_click[d] + np.where(soon, rng.integers(300, 6 * 3600, len(d)),
                                          rng.integers(DAY, 3 * DAY, len(d)))
        o = soon | later
        self._add_orders(S.p[d[o]], t_ord[o], rng)
        conv = o & self.converts[m] & (r[:, 1] < 0.9)  # converted event on the clicked delivery
        ev.add(d[conv], CONVERTED, t_ord[conv])
        return self._serialize(S, dids, ev, rng)

    def _orders_so_far(self) -> tuple[np.ndarray, np.ndarray]:
        """(person, time) of the orders created so far while simulating the current day."""
        return (np.concatenate([o[0] for o in self.orders] or [np.empty(0, np.int64)]),
                np.concatenate([o[1] for o in self.orders] or [np.empty(0, np.int64)]))

    def _add_orders(self, p, t, rng):
        keep = t < self.end
        p, t = p[keep], t[keep]
        rev = np.round(np.exp(np.log(58.0) + 0.55 * rng.standard_normal(len(p))), 2)
        self.orders.append((p, t, rev, rng.random(len(p)) < 0.5))
        np.maximum.at(self.P.last_active, p, t)

    def _base(self, msg, did, p, journey, trigger, trigger_id) -> dict:
        """The `data` fields shared by every event of one delivery (§1.4 + channel recipient)."""
        P = self.P
        data = dict(msg.parent)
        if msg.kind == "campaign":
            data["journey_id"], data["trigger_event_id"] = journey, trigger
        elif msg.kind == "broadcast":
            data["trigger_id"], data["journey_id"] = trigger_id, journey
        data["delivery_id"] = did
        data["customer_id"] = P.customer_id(p)
        data["identifiers"] = P.ident[p]
        if msg.channel == "email":
            data["recipient"], data["subject"] = P.emails[p], msg.subject
        elif msg.channel == "sms":
            data["recipient"] = P.phones[p]
        else:
            device_id, platform = P.devices[p]
            data["recipients"] = [{"device_id": device_id, "device_platform": platform}]
        return data

    def _serialize(self, S: _Sends, dids: list, ev: _Events, rng) -> tuple:
        d, code, ts, flag, aux = ev.columns()
        keep = ts < self.end  # follow-ups that would happen after `end` have not happened yet
        d, code, ts, flag, aux = d[keep], code[keep], ts[keep], flag[keep], aux[keep]
        eids = ulids(ts, rng).tolist()
        live_dids = iter(delivery_ids(int((code == LIVE_SENT).sum()), rng).tolist())
        msgs, p_l, m_l = self.msgs, S.p.tolist(), S.m.tolist()
        journey, trigger, trigger_id = S.journey.tolist(), S.trigger.tolist(), S.trigger_id.tolist()
        bases: dict[int, dict] = {}
        lines = []
        dumps = _dumps
        for eid, k, c, t, f, a in zip(eids, d.tolist(), code.tolist(), ts.tolist(), flag.tolist(), aux.tolist()):
            base = bases.get(k)
            msg = msgs[m_l[k]]
            if base is None:
                base = bases[k] = self._base(msg, dids[k], p_l[k], journey[k], trigger[k], trigger_id[k])
            object_type = msg.channel
            if c == OPENED and object_type == "email":
                data = {**base, "proxied": bool(f & PROXIED), "prefetched": bool(f & PREFETCHED),
                        "synthetic": bool(f & SYNTHETIC)}
            elif c == CLICKED:
                link_id, href = msg.links[a]
                data = {**base, "href": href, "link_id": link_id}
                if object_type == "email":
                    data["machine"] = bool(f & MACHINE)
            elif c == BOUNCED:
                if object_type == "push":  # per-token failure inside recipients[]
                    rec = base["recipients"][0]
                    failure = PUSH_FAILURES[rec["device_platform"]][a]
                    data = {**base, "recipients": [{**rec, "failure_message": failure}]}
                else:
                    data = {**base, "failure_message": FAILURES[CHANNELS.index(object_type)][a]}
            elif c == DEFERRED:
                data = {**base, "failure_message": DEFERRED_MESSAGE}
            elif c == LIVE_SENT:
                object_type = "live_notification"
                data = {key: v for key, v in base.items() if key not in ("recipient", "subject")}
                data["delivery_id"] = next(live_dids)
            else:
                data = base
            lines.append(dumps({"event_id": eid, "object_type": object_type, "metric": METRICS[c],
                                "timestamp": t, "data": data}))
        return ts, lines, self.ch[S.m[d]] * 16 + code

    # ---- one calendar day ----------------------------------------------------------------
    def run_day(self, day: int, rng) -> Iterator[tuple]:
        """Simulate one calendar day, yielding ``(timestamps, lines, metric combos)`` chunks.
        Consume each chunk before asking for the next: later steps read state the earlier ones set.
        The day's orders are in ``self.orders`` once the generator is exhausted."""
        P, n, idx = self.P, self.P.n, self.idx
        day_start = self.day0 + day * DAY
        self.orders = []
        emailable = P.has_email & ~P.unsub
        r = rng.random((n, 4))
        awake = day_start < P.cold  # lapsed people stop shopping once cold

        batches = self.pending.pop(day, [])
        # cart abandonment journey: email 1 h after the cart, SMS 4 h after the email unless they ordered
        pc = np.nonzero(awake & (r[:, 0] < P.p_cart))[0]
        t_cart = _times(rng, len(pc), day_start)
        cart_journey, cart_trigger = ulids(t_cart, rng), ulids(t_cart, rng)
        t_cart_email = t_cart + 3600 + rng.integers(0, 600, len(pc))
        e = emailable[pc]
        batches.append(_Sends.of(pc[e], t_cart_email[e], idx[brand.CART_EMAIL.name], cart_journey[e], cart_trigger[e]))
        # browse abandonment: one email 2 h after browsing
        pb = np.nonzero(awake & emailable & (r[:, 1] < P.p_browse))[0]
        t_browse = _times(rng, len(pb), day_start)
        batches.append(_Sends.of(pb, t_browse + 7200 + rng.integers(0, 600, len(pb)), idx[brand.BROWSE_EMAIL.name],
                                 ulids(t_browse, rng), ulids(t_browse, rng)))
        # winback (Mondays): inactive for 60+ days, at most once per 90 days
        if dt.datetime.fromtimestamp(day_start, UTC).weekday() == 0:
            t_ref = day_start + 15 * 3600
            pw = np.nonzero(emailable & (P.last_active < t_ref - 60 * DAY) & (P.last_winback < t_ref - 90 * DAY))[0]
            t_w = t_ref + rng.integers(0, 1800, len(pw))
            P.last_winback[pw] = t_w
            batches.append(_Sends.of(pw, t_w, idx[brand.WINBACK_EMAIL.name], ulids(t_w, rng)))
        # newsletters: everyone on the list, A/B content split 50/50
        for t_send, issue, series in self.newsletter_days.get(day, ()):
            pn = np.nonzero(emailable & (P.weekly_sub if series == 0 else P.deals_sub))[0]
            variant = np.array(self.issue_msgs[issue])[(rng.random(len(pn)) < 0.5).astype(int)]
            batches.append(_Sends.of(pn, t_send + rng.integers(0, 1800, len(pn)), variant))
        # API-triggered flash-sale broadcasts (push or SMS)
        for t_trig, trigger_id, channel in self.flash_days.get(day, ()):
            if channel == "push":
                pf, mi = np.nonzero(P.has_device & (rng.random(n) < 0.9))[0], idx[brand.FLASH_PUSH.name]
            else:
                pf, mi = np.nonzero(P.has_phone & P.sms_opt_in)[0], idx[brand.FLASH_SMS.name]
            t_f = t_trig + rng.integers(0, 900, len(pf))
            batches.append(_Sends.of(pf, t_f, mi, ulids(t_f, rng), None, trigger_id))

        yield from self._batch(_Sends.concat(batches), rng)
        # cart SMS, unless the person ordered between the abandoned cart and the SMS
        t_sms = t_cart_email + 4 * 3600 + rng.integers(0, 300, len(pc))
        trig = np.full(n, -1, np.int64)
        trig[pc] = np.arange(len(pc))
        p_o, t_o = self._orders_so_far()
        j = trig[p_o]
        t_o, j = t_o[j >= 0], j[j >= 0]
        ordered = np.zeros(len(pc), bool)
        ordered[j[(t_o > t_cart[j]) & (t_o < t_sms[j])]] = True
        sms = P.has_phone[pc] & P.sms_opt_in[pc] & ~ordered
        yield from self._batch(_Sends.of(pc[sms], t_sms[sms], idx[brand.CART_SMS.name],
                                         cart_journey[sms], cart_trigger[sms]), rng)

        # orders not caused by a message click
        po = np.nonzero(awake & (r[:, 2] < P.p_order))[0]
        self._add_orders(po, _times(rng, len(po), day_start), rng)
        # order confirmation (transactional) and post-purchase follow-ups for today's orders
        p_o, t_o = self._orders_so_far()
        has = P.has_email[p_o]
        confirmations = _Sends.of(p_o[has], t_o[has] + 5 + rng.integers(0, 60, int(has.sum())),
                                  idx[brand.ORDER_CONFIRMATION.name])
        self._schedule_post_purchase(p_o, t_o, emailable, rng)
        yield from self._batch(confirmations, rng)  # creates no orders
        yield self._customer_events(day_start, r[:, 3], rng)

    def _schedule_post_purchase(self, p, t, emailable, rng):
        journey, trigger = ulids(t, rng), ulids(t, rng)
        e, pu = emailable[p], self.P.has_device[p]
        t_e = t + DAY + rng.integers(0, 3600, len(p))
        t_p = t + 3 * DAY + rng.integers(0, 3600, len(p))
        for sel, ts, msg in ((e, t_e, brand.EDU_EMAIL), (pu, t_p, brand.EDU_PUSH)):
            s = _Sends.of(p[sel], ts[sel], self.idx[msg.name], journey[sel], trigger[sel])
            days = (s.t - self.day0) // DAY
            for u in np.unique(days).tolist():
                self.pending.setdefault(u, []).append(s[days == u])

    def _customer_events(self, day_start, r, rng) -> tuple:
        """object_type=customer subscribed/unsubscribed events; they also change email consent."""
        P = self.P
        unsub = P.has_email & ~P.unsub & (r < 0.0004)
        resub = P.has_email & P.unsub & (r > 0.997)
        p = np.concatenate([np.nonzero(resub)[0], np.nonzero(unsub)[0]])
        code = np.repeat(np.array([0, 1], np.int64), [int(resub.sum()), int(unsub.sum())])
        t = _times(rng, len(p), day_start)
        keep = (t >= self.start) & (t < self.end)
        p, code, t = p[keep], code[keep], t[keep]
        P.unsub[p] = code == 1
        lines = [_dumps({"event_id": eid, "object_type": "customer",
                               "metric": ("subscribed", "unsubscribed")[c], "timestamp": ts,
                               "data": {"customer_id": P.customer_id(i), "email_address": P.emails[i],
                                        "identifiers": P.ident[i]}})
                 for eid, i, c, ts in zip(ulids(t, rng).tolist(), p.tolist(), code.tolist(), t.tolist())]
        return t, lines, CUSTOMER * 16 + code

