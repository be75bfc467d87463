"""People of the demo brand and the identifier formats used by :mod:`msgmetrics.generate`.

Identity follows customerio-formats.md §4 (email-or-ID workspace): ``identifiers`` always holds
``id`` (null for email-only people), ``email`` (null for id-only app users) and ``cio_id``.
Behaviour is person-specific (segment rates with per-person jitter, mail client, scanners...)
so the cohorts built downstream have real signal in them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

UTC = dt.timezone.utc
DAY = 86_400
INT64_MAX = np.iinfo(np.int64).max

# --- behaviour segments and name pools ------------------------------------------------------
REGULAR, ENGAGER, FATIGUED, LAPSED = range(4)
SEGMENT_P = (0.70, 0.10, 0.12, 0.08)
#                       regular engager fatigued lapsed   (lapsed: before going cold)
P_OPEN = np.array([0.24, 0.60, 0.04, 0.50])  # human email read per delivered email
P_CLICK = np.array([0.022, 0.14, 0.0, 0.10])  # human email click per delivered email
P_SMS_CLICK = np.array([0.05, 0.30, 0.0, 0.18])
P_PUSH_OPEN = np.array([0.045, 0.16, 0.01, 0.12])
P_CART = np.array([0.006, 0.02, 0.004, 0.015])  # abandoned carts per day
P_BROWSE = np.array([0.012, 0.03, 0.05, 0.02])  # browse abandonments per day (fatigued browse, never buy)
P_ORDER = np.array([0.0012, 0.004, 0.0003, 0.003])  # orders per day not caused by a message click

FIRST = ("maria", "james", "aisha", "chen", "olivia", "liam", "sofia", "noah", "fatima", "lucas", "emma",
         "mateo", "yuki", "ava", "omar", "mia", "ethan", "zara", "leo", "nora", "ivan", "priya", "jonas",
         "chloe", "diego", "hana", "samuel", "elena", "kofi", "grace", "ravi", "lena")
LAST = ("lopez", "smith", "khan", "wang", "johnson", "garcia", "muller", "rossi", "kim", "nguyen", "silva",
        "brown", "tanaka", "patel", "cohen", "novak", "okafor", "jensen", "dubois", "costa", "murphy",
        "ali", "schmidt", "larsen", "moreau", "santos", "ivanova", "berg", "walker", "fischer")
DOMAINS = ("example.com", "example.net", "example.org")
AREA_CODES = ("212", "310", "415", "512", "617", "718", "773", "206", "303", "404")

# --- randomness and identifier formats -----------------------------------------------------
CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", np.uint8)
B64URL = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """Independent generator for one stream (0 people, 1 days, 2 schedule, 3 bad lines, 4 writer)."""
    return np.random.default_rng([seed, *stream])


def _chars(codes: np.ndarray, alphabet: np.ndarray) -> np.ndarray:
    """(n, k) array of alphabet positions -> array of n k-char strings (numpy ``U<k>``)."""
    k = codes.shape[1]
    return np.ascontiguousarray(alphabet[codes]).view(f"S{k}").ravel().astype(f"U{k}")


def ulids(ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """26-char ULIDs: 48-bit ms time prefix from ``ts`` (unix s) + 80 random bits, Crockford base32."""
    n = len(ts)
    ms = np.asarray(ts, np.uint64) * np.uint64(1000) + rng.integers(0, 1000, n, dtype=np.uint64)
    codes = np.empty((n, 26), np.uint8)
    for i in range(10):
        codes[:, i] = (ms >> np.uint64(45 - 5 * i)) & np.uint64(31)
    codes[:, 10:] = rng.integers(0, 32, (n, 16), dtype=np.uint8)
    return _chars(codes, CROCKFORD)


def delivery_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Base64url-ish 28-char delivery ids (168 random bits), like ``RPILAgUBcRhIBqSfeiIwdIYJKxTY``."""
    return _chars(rng.integers(0, 64, (n, 28), dtype=np.uint8), B64URL)


# --- people ---------------------------------------------------------------------------------
def _title(email: str) -> str:
    """``maria.lopez42@example.com`` -> ``Maria.Lopez42@Example.com``."""
    local, domain = email.split("@")
    return ".".join(s.capitalize() for s in local.split(".")) + "@" + domain.capitalize()


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class People:
    """Column-wise person table; index = person number. The last three arrays are mutable state."""

    ids: list  # "cust-000123" or None (email-only)
    emails: list  # email as stored in Customer.io (sometimes mixed case) or None (id-only)
    cio_ids: list
    phones: list  # "+14155550123" or None
    devices: list  # (device_id, "ios" | "android") or None
    ident: list  # webhook `identifiers` dict per person (shared, never mutated)
    segment: np.ndarray
    has_email: np.ndarray
    has_phone: np.ndarray
    has_device: np.ndarray
    sms_opt_in: np.ndarray
    weekly_sub: np.ndarray
    deals_sub: np.ndarray
    apple: np.ndarray  # Apple Mail (MPP prefetches every email)
    gmail: np.ndarray  # Gmail (image proxy)
    scanner: np.ndarray  # corporate link scanner clicks links right after delivery
    images_off: np.ndarray  # human reads are not tracked as opens (clicks become synthetic opens)
    bad_email: np.ndarray
    bad_phone: np.ndarray
    stale_token: np.ndarray
    p_open: np.ndarray
    p_click: np.ndarray
    p_sms_click: np.ndarray
    p_push_open: np.ndarray
    p_cart: np.ndarray
    p_browse: np.ndarray
    p_order: np.ndarray
    cold: np.ndarray  # unix s after which the person no longer engages (lapsed); INT64_MAX otherwise
    unsub: np.ndarray  # state: unsubscribed from marketing email
    last_active: np.ndarray  # state: last human open / click / order
    last_winback: np.ndarray  # state: last winback send

    @property
    def n(self) -> int:
        return len(self.ids)

    def customer_id(self, i: int) -> str:
        """Deprecated webhook ``customer_id``: the id, or "" when the person has none."""
        return self.ids[i] or ""


def make_people(n: int, seed: int, start_ts: int, end_ts: int) -> People:
    """Create ``n`` people deterministically (stream 0 of ``seed``)."""
    rng = rng_for(seed, 0)
    idx = np.arange(n)
    # identity kind with exact shares (so small runs have every kind): 0 id+email, 1 email-only, 2 id-only
    n_email_only, n_id_only = round(0.10 * n), round(0.05 * n)
    perm = rng.permutation(n)
    kind = np.zeros(n, np.int8)
    kind[perm[:n_email_only]] = 1
    kind[perm[n_email_only:n_email_only + n_id_only]] = 2
    has_email = kind != 2

    ids = [None if k == 1 else f"cust-{i + 1:06d}" for i, k in zip(idx.tolist(), kind.tolist())]
    # emails end in the person number, so they are unique before pairs are made to share one
    f, l, dom, pat = (rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n),
                      rng.integers(0, len(DOMAINS), n), rng.integers(0, 3, n))
    mixed = rng.random(n) < 0.15
    emails = []
    for i in range(n):
        if not has_email[i]:
            emails.append(None)
            continue
        first, last = FIRST[f[i]], LAST[l[i]]
        local = (f"{first}.{last}", f"{first}{last[0]}", f"{first[0]}{last}")[pat[i]]
        e = f"{local}{i + 1}@{DOMAINS[dom[i]]}"
        emails.append(_title(e) if mixed[i] else e)
    # a few pairs of different ids share one email address (one spelled in another case)
    n_pairs = max(3, n // 250) if n >= 200 else n // 60
    both = perm[n_email_only + n_id_only:]  # kind-0 people in random order
    for j in range(n_pairs):
        a, b = both[2 * j], both[2 * j + 1]
        emails[b] = emails[a].lower() if emails[a] != emails[a].lower() else _title(emails[a])

    # cio_id: workspace prefix + bijective scramble of the person number -> unique lowercase hex
    scr = (idx.astype(np.uint64) * np.uint64(2654435761) + np.uint64(rng.integers(0, 2**32))) % np.uint64(2**32)
    cio_ids = [f"d9c1{x:08x}" for x in scr.tolist()]

    has_phone = rng.random(n) < 0.6
    has_device = rng.random(n) < 0.4
    has_device |= (kind == 2) & ~has_phone  # id-only people are app users: reachable by SMS or push
    area, line = rng.integers(0, len(AREA_CODES), n), rng.integers(100, 200, n)  # 555-01xx fictional range
    phones = [f"+1{AREA_CODES[area[i]]}555{line[i]:04d}" if has_phone[i] else None for i in range(n)]
    ios = rng.random(n) < 0.55
    tok_ios = _chars(rng.integers(0, 16, (n, 64), dtype=np.uint8), HEX).tolist()
    tok_fcm = _chars(rng.integers(0, 64, (n, 62), dtype=np.uint8), B64URL).tolist()
    devices = [None if not has_device[i] else
               (tok_ios[i], "ios") if ios[i] else (f"{tok_fcm[i][:22]}:APA91b{tok_fcm[i][22:]}", "android")
               for i in range(n)]

    seg = rng.choice(4, n, p=SEGMENT_P)
    r = rng.random((n, 12))
    jitter = np.exp(0.35 * rng.standard_normal((n, 7)))  # person-level spread around the segment rate
    cart_prone = r[:, 0] < 0.18
    apple = has_email & (r[:, 1] < 0.28)
    cold = np.where(seg == LAPSED, end_ts - rng.integers(30 * DAY, 90 * DAY, n), INT64_MAX)
    # last activity before the window: engagers recently, fatigued long ago, lapsed at going cold
    since = np.choose(seg, [rng.integers(0, 70 * DAY, n), rng.integers(0, 7 * DAY, n),
                            rng.integers(30 * DAY, 200 * DAY, n), rng.integers(0, 7 * DAY, n)])
    last_active = np.minimum(start_ts, cold) - since

    return People(
        ids=ids, emails=emails, cio_ids=cio_ids, phones=phones, devices=devices,
        ident=[{"id": ids[i], "email": emails[i], "cio_id": cio_ids[i]} for i in range(n)],
        segment=seg, has_email=has_email, has_phone=has_phone, has_device=has_device,
        sms_opt_in=has_phone & (r[:, 2] < 0.8),
        weekly_sub=has_email & (r[:, 3] < 0.92),
        deals_sub=has_email & ((seg == FATIGUED) | (r[:, 4] < 0.2)),
        apple=apple, gmail=has_email & ~apple & (r[:, 5] < 0.45),
        scanner=has_email & (seg != FATIGUED) & (r[:, 6] < 0.045),
        images_off=r[:, 7] < 0.08, bad_email=r[:, 8] < 0.015, bad_phone=r[:, 9] < 0.02,
        stale_token=r[:, 10] < 0.06,
        p_open=np.minimum(0.95, P_OPEN[seg] * jitter[:, 0]),
        p_click=np.minimum(0.6, P_CLICK[seg] * jitter[:, 1]),
        p_sms_click=np.minimum(0.8, P_SMS_CLICK[seg] * jitter[:, 2]),
        p_push_open=np.minimum(0.8, P_PUSH_OPEN[seg] * jitter[:, 3]),
        p_cart=np.where(cart_prone, 0.05, P_CART[seg]) * jitter[:, 4],
        p_browse=P_BROWSE[seg] * jitter[:, 5],
        p_order=P_ORDER[seg] * jitter[:, 6],
        cold=cold, unsub=has_email & (r[:, 11] < 0.03), last_active=last_active,
        last_winback=np.full(n, -INT64_MAX, np.int64),
    )


