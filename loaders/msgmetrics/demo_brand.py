"""Catalog of the demo brand used by :mod:`msgmetrics.generate`.

"Fernhill Goods" is a made-up D2C home-and-apparel shop on Customer.io. This module only
holds static data (campaigns, broadcasts, transactional messages, subjects, links) and
turns it into:

* the ``catalog.json`` document (what exists in the workspace), and
* a flat list of :class:`Message` rows, one per *sendable thing* (a campaign action, a
  newsletter content variant, a broadcast action, a transactional message). The
  generator refers to messages by their index in that list.

Newsletters are one-off sends in Customer.io, so every weekly issue is its own newsletter
(own ``newsletter_id``) with two A/B ``content_id`` variants. The issue calendar depends on
the generated date range, so :func:`build_catalog` takes the issue list as input.
"""

from __future__ import annotations

from dataclasses import dataclass

SHOP = "https://shop.fernhill.example"
SMS_SHORT = "https://fhl.example/s"


@dataclass(frozen=True)
class Message:
    """One sendable message; ``parent`` holds its §1.4 parent fields in wire order."""

    name: str
    channel: str  # "email" | "sms" | "push"
    kind: str  # "campaign" | "broadcast" | "newsletter" | "transactional"
    parent: tuple[tuple[str, int], ...]  # e.g. (("campaign_id", 101), ("action_id", 1011))
    subject: str | None = None  # email only
    links: tuple[tuple[int, str], ...] = ()  # (link_id, href) of tracked links
    open_mult: float = 1.0  # scales the person's open (push: open) propensity
    click_mult: float = 1.0  # scales the person's click propensity
    order_6h: float = 0.0  # P(order within 6 h | human click)
    order_3d: float = 0.0  # P(order after 1-3 days | human click, no 6 h order)
    converts: bool = True  # has a conversion goal -> `converted` events
    marketing: bool = True  # suppressed by unsubscribe; can be unsubscribed from / spammed


def _utm(path: str, campaign: str, medium: str = "email") -> str:
    return f"{SHOP}{path}?utm_source=customerio&utm_medium={medium}&utm_campaign={campaign}"


# --- campaigns (journeys): campaign_id -> actions -------------------------------------
CART_EMAIL = Message(
    "Cart reminder email", "email", "campaign", (("campaign_id", 101), ("action_id", 1011)),
    subject="You left something in your cart",
    links=((11, _utm("/cart", "cart_abandonment")), (12, _utm("/collections/bestsellers", "cart_abandonment")),
           (13, _utm("/help/shipping", "cart_abandonment"))),
    open_mult=1.4, click_mult=3.5, order_6h=0.25, order_3d=0.10,
)
CART_SMS = Message(
    "Cart reminder SMS", "sms", "campaign", (("campaign_id", 101), ("action_id", 1012)),
    links=((14, f"{SMS_SHORT}/cart"),), click_mult=1.3, order_6h=0.25, order_3d=0.10,
)
BROWSE_EMAIL = Message(
    "Browse reminder email", "email", "campaign", (("campaign_id", 102), ("action_id", 1021)),
    subject="Still thinking it over?",
    links=((21, _utm("/products/linen-throw", "browse_abandonment")),
           (22, _utm("/collections/new", "browse_abandonment"))),
    click_mult=1.5, order_6h=0.10, order_3d=0.12,
)
EDU_EMAIL = Message(
    "Care guide email", "email", "campaign", (("campaign_id", 103), ("action_id", 1031)),
    subject="How to care for your new Fernhill pieces",
    links=((31, _utm("/journal/care-guide", "post_purchase")), (32, _utm("/account/orders", "post_purchase"))),
    open_mult=1.3, click_mult=1.2, order_3d=0.03, converts=False,
)
EDU_PUSH = Message(
    "Review request push", "push", "campaign", (("campaign_id", 103), ("action_id", 1032)),
    links=((33, "fernhill://orders/review"),), converts=False,
)
WINBACK_EMAIL = Message(
    "Winback offer email", "email", "campaign", (("campaign_id", 104), ("action_id", 1041)),
    subject="We miss you - here's 20% off",
    links=((41, _utm("/collections/all?code=COMEBACK20", "winback")), (42, _utm("/account/preferences", "winback"))),
    click_mult=1.3, order_6h=0.10, order_3d=0.12,
)

# --- API-triggered broadcasts (flash sales) -------------------------------------------
FLASH_PUSH = Message(
    "Flash sale push", "push", "broadcast", (("broadcast_id", 201), ("action_id", 2011)),
    links=((51, "fernhill://sale/flash"),), open_mult=1.15, order_6h=0.15, order_3d=0.05,
)
FLASH_SMS = Message(
    "Flash sale SMS", "sms", "broadcast", (("broadcast_id", 202), ("action_id", 2021)),
    links=((52, f"{SMS_SHORT}/flash"),), order_6h=0.15, order_3d=0.05,
)

# --- transactional ----------------------------------------------------------------------
ORDER_CONFIRMATION = Message(
    "Order confirmation", "email", "transactional", (("transactional_message_id", 301),),
    subject="Your Fernhill order is confirmed",
    links=((61, f"{SHOP}/account/orders"), (62, f"{SHOP}/help/returns")),
    open_mult=2.5, click_mult=0.8, converts=False, marketing=False,
)

STATIC_MESSAGES: tuple[Message, ...] = (
    CART_EMAIL, CART_SMS, BROWSE_EMAIL, EDU_EMAIL, EDU_PUSH, WINBACK_EMAIL,
    FLASH_PUSH, FLASH_SMS, ORDER_CONFIRMATION,
)

CAMPAIGNS = (
    (101, "Cart abandonment", (CART_EMAIL, CART_SMS)),
    (102, "Browse abandonment", (BROWSE_EMAIL,)),
    (103, "Post-purchase education", (EDU_EMAIL, EDU_PUSH)),
    (104, "Winback 60d", (WINBACK_EMAIL,)),
)
BROADCASTS = ((201, "Flash sale (push)", (FLASH_PUSH,)), (202, "Flash sale (SMS)", (FLASH_SMS,)))
TRANSACTIONAL = ((301, "Order confirmation"),)

# --- newsletter series: (name, weekday 0=Mon, hour UTC, list key, subject pairs A/B) --
NEWSLETTER_SERIES = (
    ("The Weekly Edit", 1, 14, "weekly", (
        ("This week: linen season is here", "Linen season starts now"),
        ("5 ways to style a throw", "Our stylists' favourite throws"),
        ("New in: stoneware", "Meet our new stoneware"),
        ("Behind the seams", "How our fabrics are made"),
    )),
    ("Deals Digest", 4, 16, "deals", (
        ("Up to 30% off this weekend", "Weekend deals inside"),
        ("Last chance: summer markdowns", "Markdowns end Sunday"),
        ("Bundle and save", "Save more when you bundle"),
    )),
)


def _action_json(msg: Message) -> dict:
    return {"id": dict(msg.parent)["action_id"], "name": msg.name, "channel": msg.channel}


def build_catalog(issues: list[tuple[int, str, str]]) -> tuple[dict, list[Message], list[tuple[int, int]]]:
    """Build the catalog document and the message table.

    ``issues`` lists newsletter issues in send order as ``(series_index, date_iso, send_iso)``.
    Returns ``(catalog, messages, issue_msgs)`` where ``issue_msgs[k]`` is the pair of message
    indexes (variant A, variant B) of issue ``k``.
    """
    messages = list(STATIC_MESSAGES)
    newsletters, issue_msgs = [], []
    for k, (series, date_iso, send_iso) in enumerate(issues):
        name, _, _, _, subjects = NEWSLETTER_SERIES[series]
        nid = 1001 + k
        pair = []
        for v, subject in enumerate(subjects[k % len(subjects)]):
            slug = "weekly_edit" if series == 0 else "deals_digest"
            msg = Message(
                f"{name} {date_iso} ({'AB'[v]})", "email", "newsletter",
                (("newsletter_id", nid), ("content_id", nid * 10 + v + 1)),
                subject=subject,
                # link ids are workspace-unique ints; keep newsletters in their own range
                links=tuple((100_000 + nid * 10 + j, _utm(path, f"{slug}_{date_iso}"))
                            for j, path in enumerate(("/collections/new", "/journal", "/collections/sale"))),
                click_mult=1.0 if series == 0 else 1.2,
                order_6h=0.08, order_3d=0.10,
            )
            pair.append(len(messages))
            messages.append(msg)
        issue_msgs.append(tuple(pair))
        newsletters.append({
            "id": nid, "name": f"{name} {date_iso}", "series": name, "channel": "email", "sent_at": send_iso,
            "content_ids": [nid * 10 + 1, nid * 10 + 2],
            "contents": [{"id": nid * 10 + v + 1, "variant": "AB"[v], "subject": messages[i].subject}
                         for v, i in enumerate(pair)],
        })
    catalog = {
        "brand": {"name": "Fernhill Goods", "shop_url": SHOP},
        "campaigns": [{"id": cid, "name": name, "actions": [_action_json(m) for m in acts]}
                      for cid, name, acts in CAMPAIGNS],
        "newsletters": newsletters,
        "broadcasts": [{"id": bid, "name": name, "actions": [_action_json(m) for m in acts]}
                       for bid, name, acts in BROADCASTS],
        "transactional_messages": [{"id": tid, "name": name, "channel": "email"} for tid, name in TRANSACTIONAL],
    }
    return catalog, messages, issue_msgs
