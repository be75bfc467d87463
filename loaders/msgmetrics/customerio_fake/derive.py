"""App API objects derived from the generator's output (``generate.py``): what the App API of
the simulated workspace would answer, so the demo and the tests can pull the same data
through the App API that the webhook files hold.

* ``/v1/messages``: one message per ``delivery_id`` of the webhook files (lines the webhook
  loader would quarantine skipped, retries counted once by ``event_id``). ``metrics``
  holds the *first* timestamp of each metric the App API knows (§2.5; ``deferred`` and other
  metrics outside that list are not there), ``created`` = the delivery's first event.
  For email, ``human_opened``/``prefetch_opened`` are the first open without/with
  ``prefetched`` and ``human_clicked``/``prefetch_clicked`` the first click without/with
  ``machine``, for deliveries created after Customer.io made them reliable (2025-03-20 and
  2025-04-20); SMS and push carry no such flags in webhooks, so none here either.
  ``type`` is ``twilio`` for SMS. ``customer_id`` is the person's id (null for email-only
  people), ``customer_identifiers`` the webhook ``identifiers``. Half the messages (by a hash
  of the id) say ``msg_template_id``, the other half ``message_template_id``. The demo's
  ``cio_id`` values are hex strings, so none is sent as an integer (the server turns only
  digits-only ones into integers). Transactional deliveries carry ``transactional_message_id``
  (the spec's message object has no transactional parent key; we assume the webhook name).
* Metadata from ``catalog.json``: campaigns and their actions, newsletters and their contents
  (A/B variants), broadcasts and their actions, transactional messages.
* ``/v1/activities``: the customer subscribe/unsubscribe events as ``attribute_change``.

Everything per delivery is computed by DuckDB in one pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from .server import Workspace

HUMAN_OPENS_SINCE = 1742428800  # 2025-03-20T00:00:00Z
HUMAN_CLICKS_SINCE = 1745107200  # 2025-04-20T00:00:00Z

API_METRICS = ("drafted", "sent", "delivered", "opened", "clicked", "converted", "bounced", "spammed",
               "unsubscribed", "dropped", "failed", "undeliverable")
_PARENT_KEYS = ("campaign_id", "action_id", "parent_action_id", "newsletter_id", "content_id", "broadcast_id")
CHANNEL_TYPES = {"email": "email", "sms": "twilio", "push": "push"}
SENDER = "Fernhill Goods <hello@fernhill.example>"

# every field of `data` we need, extracted in one parse per event
_DATA_PATHS = ("delivery_id", "campaign_id", "action_id", "parent_action_id", "newsletter_id", "content_id",
               "broadcast_id", "transactional_message_id", "trigger_event_id", "identifiers.id", "identifiers.email",
               "identifiers.cio_id", "recipient", "recipients[0].device_id", "subject", "failure_message",
               "recipients[0].failure_message", "prefetched", "machine")
_F = {name: i + 1 for i, name in enumerate(_DATA_PATHS)}

_DELIVERIES_SQL = f"""
with events as (
    select distinct on (event_id) object_type, metric, "timestamp" as ts,
           json_extract_string(data, [{", ".join(f"'$.{p}'" for p in _DATA_PATHS)}]) as f
    from webhook_events
    where object_type <> 'customer'
),
fields as (
    select
        f[{_F["delivery_id"]}] as delivery_id,
        object_type, metric, ts,
        f[{_F["campaign_id"]}:{_F["trigger_event_id"]}] as parents,
        f[{_F["identifiers.id"]}] as person_id,
        f[{_F["identifiers.email"]}] as email,
        f[{_F["identifiers.cio_id"]}] as cio_id,
        coalesce(f[{_F["recipient"]}], f[{_F["recipients[0].device_id"]}]) as recipient,
        f[{_F["subject"]}] as subject,
        coalesce(f[{_F["failure_message"]}], f[{_F["recipients[0].failure_message"]}]) as failure_message,
        coalesce(f[{_F["prefetched"]}] = 'true', false) as prefetched,
        coalesce(f[{_F["machine"]}] = 'true', false) as machine
    from events
)
select
    delivery_id,
    arg_min(object_type, ts) as object_type,
    min(ts) as created,
    max(ts) as updated,
    {", ".join(f"min(ts) filter (where metric = '{m}') as m_{m}" for m in API_METRICS)},
    min(ts) filter (where metric = 'opened' and object_type = 'email' and not prefetched) as m_human_opened,
    min(ts) filter (where metric = 'opened' and object_type = 'email' and prefetched) as m_prefetch_opened,
    min(ts) filter (where metric = 'clicked' and object_type = 'email' and not machine) as m_human_clicked,
    min(ts) filter (where metric = 'clicked' and object_type = 'email' and machine) as m_prefetch_clicked,
    arg_min(parents, ts) as parents,
    arg_min(person_id, ts) as person_id,
    arg_min(email, ts) as email,
    arg_min(cio_id, ts) as cio_id,
    arg_min(recipient, ts) filter (where recipient is not null) as recipient,
    arg_min(subject, ts) filter (where subject is not null) as subject,
    arg_min(failure_message, ts) filter (where failure_message is not null and metric <> 'deferred') as failure_message,
    hash(delivery_id) % 2 = 0 as old_template_key
from fields
where delivery_id is not null
group by delivery_id
order by created, delivery_id
"""

_ACTION_SUBJECTS_SQL = """
select coalesce(json_extract_string(data, '$.action_id'), json_extract_string(data, '$.content_id')) as id,
       min(json_extract_string(data, '$.subject')) as subject
from webhook_events
where json_extract_string(data, '$.subject') is not null
group by 1
"""

_CUSTOMER_EVENTS_SQL = """
select distinct on (event_id) event_id, metric, "timestamp" as ts,
       json_extract_string(data, '$.identifiers.id') as person_id,
       json_extract_string(data, '$.identifiers.email') as email,
       json_extract_string(data, '$.identifiers.cio_id') as cio_id
from webhook_events
where object_type = 'customer'
order by ts, event_id
"""


# The lines the webhook loader accepts (JSON objects with event_id, object_type, metric and an
# integer timestamp); the rest are its quarantine and never reached Customer.io's API either.
_WEBHOOK_EVENTS_SQL = """
create or replace temp table webhook_events as
with raw as (
    select line
    from read_csv($files, columns = {'line': 'VARCHAR'}, header = false, delim = chr(30), quote = '',
                  escape = '', auto_detect = false, strict_mode = false, max_line_size = 16777216)
),
lines as (
    -- the case keeps DuckDB from parsing a bad line before the filter drops it
    select case when json_valid(line) and json_type(line) = 'OBJECT'
                then json_extract(line, ['$.event_id', '$.object_type', '$.metric', '$.timestamp', '$.data']) end as v
    from raw
    where line is not null
)
select
    v[1] ->> '$' as event_id,
    v[2] ->> '$' as object_type,
    v[3] ->> '$' as metric,
    cast(v[4] as bigint) as "timestamp",
    v[5]::varchar as data
from lines
where v is not null and coalesce(v[1] ->> '$', '') <> '' and v[2] ->> '$' is not null and v[3] ->> '$' is not null
    and json_type(v[4]) in ('UBIGINT', 'BIGINT')
"""


def _load_webhook_events(con: duckdb.DuckDBPyConnection, webhooks_dir: Path) -> None:
    files = [str(p) for p in sorted(Path(webhooks_dir).glob("**/*.jsonl*"))]
    if not files:
        raise FileNotFoundError(f"no webhook files under {webhooks_dir}")
    con.execute(_WEBHOOK_EVENTS_SQL, {"files": files})


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None


def _message(row: dict) -> dict:
    parents = dict(zip(_PARENT_KEYS + ("transactional_message_id", "trigger_event_id"), row["parents"]))
    created = row["created"]
    metrics = {"created": created}
    for name in API_METRICS:
        if row[f"m_{name}"] is not None:
            metrics[name] = row[f"m_{name}"]
    for name, since in (("opened", HUMAN_OPENS_SINCE), ("clicked", HUMAN_CLICKS_SINCE)):
        if created >= since:
            for kind in ("human", "prefetch"):
                if row[f"m_{kind}_{name}"] is not None:
                    metrics[f"{kind}_{name}"] = row[f"m_{kind}_{name}"]
    template = _int(parents["action_id"] or parents["content_id"] or parents["transactional_message_id"])
    message = {
        "id": row["delivery_id"],
        "deduplicate_id": f"{row['delivery_id']}:{row['updated']}",
        "created": created,
        "type": CHANNEL_TYPES.get(row["object_type"], row["object_type"]),
        "customer_id": row["person_id"],
        "customer_identifiers": {"id": row["person_id"], "email": row["email"], "cio_id": row["cio_id"]},
        "recipient": row["recipient"],
        "subject": row["subject"],
        "failure_message": row["failure_message"],
        "forgotten": False,
        **{key: _int(parents[key]) for key in _PARENT_KEYS},
        "trigger_event_id": parents["trigger_event_id"],
        ("message_template_id" if row["old_template_key"] else "msg_template_id"): template,
        "metrics": metrics,
    }
    if parents["transactional_message_id"] is not None:
        message["transactional_message_id"] = _int(parents["transactional_message_id"])
    return message


def _ts(iso_text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp())


def _metadata(catalog: dict, start: int, subjects: dict[str, str]) -> dict:
    created = start - 120 * 86_400  # set up well before the simulated period
    updated = start - 30 * 86_400

    def action(msg: dict, parent_key: str, parent_id: int) -> dict:
        email = msg["channel"] == "email"
        return {
            "id": msg["id"], parent_key: parent_id, "parent_action_id": None,
            "deduplicate_id": f"{msg['id']}:{updated}", "name": msg["name"], "layout": "",
            "created": created, "updated": updated, "body": f"<p>{msg['name']}</p>", "language": "",
            "type": CHANNEL_TYPES[msg["channel"]], "sending_state": "automatic",
            "subject": subjects.get(str(msg["id"])) if email else None, "from": SENDER if email else None,
            "recipient": {"email": "{{customer.email}}", "sms": "{{customer.phone}}"}.get(msg["channel"]),
        }

    def workflow(obj: dict, kind: str) -> dict:
        return {"id": obj["id"], "deduplicate_id": f"{obj['id']}:{updated}", "name": obj["name"],
                "type": kind, "created": created, "updated": updated, "active": True, "state": "running",
                "actions": [{"id": a["id"], "type": CHANNEL_TYPES[a["channel"]]} for a in obj["actions"]],
                "tags": []}

    newsletters, contents = [], {}
    for nl in catalog["newsletters"]:
        sent = _ts(nl["sent_at"])
        newsletters.append({"id": nl["id"], "deduplicate_id": f"{nl['id']}:{sent}", "name": nl["name"],
                            "content_ids": nl["content_ids"], "sent_at": sent, "created": sent - 3 * 86_400,
                            "updated": sent, "type": "email", "tags": [nl["series"]],
                            "recipient_segment_ids": [], "subscription_topic_id": None})
        contents[nl["id"]] = [{"id": c["id"], "newsletter_id": nl["id"], "deduplicate_id": f"{c['id']}:{sent}",
                               "name": f"Variant {c['variant']}", "layout": "", "created": sent - 3 * 86_400,
                               "updated": sent, "body": f"<p>{c['subject']}</p>", "language": "", "type": "email",
                               "subject": c["subject"], "from": SENDER}
                              for c in nl["contents"]]
    return {
        "campaigns": [workflow(c, "event") for c in catalog["campaigns"]],
        "campaign_actions": {c["id"]: [action(a, "campaign_id", c["id"]) for a in c["actions"]]
                             for c in catalog["campaigns"]},
        "newsletters": newsletters,
        "newsletter_contents": contents,
        "broadcasts": [workflow(b, "triggered_broadcast") for b in catalog["broadcasts"]],
        "broadcast_actions": {b["id"]: [action(a, "broadcast_id", b["id"]) for a in b["actions"]]
                              for b in catalog["broadcasts"]},
        "transactional": [{"id": t["id"], "name": t["name"], "description": "", "send_to_unsubscribed": True,
                           "link_tracking": True, "open_tracking": True, "hide_message_body": False,
                           "queue_drafts": False, "created_at": created, "updated_at": updated}
                          for t in catalog["transactional_messages"]],
    }


def derive_workspace(data_dir: str | Path, include_messages: bool = True) -> Workspace:
    """The App API view of a data set written by ``msgmetrics generate`` into ``data_dir``."""
    data_dir = Path(data_dir)
    catalog = json.loads((data_dir / "catalog.json").read_text())
    manifest = json.loads((data_dir / "manifest.json").read_text())
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        _load_webhook_events(con, data_dir / "webhooks")
        subjects = dict(con.execute(_ACTION_SUBJECTS_SQL).fetchall())
        messages, activities = [], []
        if include_messages:
            cursor = con.execute(_DELIVERIES_SQL)
            names = [d[0] for d in cursor.description]
            messages = [_message(dict(zip(names, row))) for row in cursor.fetchall()]
            for event_id, metric, ts, person_id, email, cio_id in con.execute(_CUSTOMER_EVENTS_SQL).fetchall():
                subscribed = metric == "subscribed"
                activities.append({
                    "id": event_id, "type": "attribute_change", "timestamp": ts, "customer_id": person_id,
                    "customer_identifiers": {"id": person_id, "email": email, "cio_id": cio_id},
                    "delivery_id": None, "delivery_type": None, "name": None,
                    "data": {"unsubscribed": {"from": subscribed, "to": not subscribed}},
                })
    finally:
        con.close()
    return Workspace(messages=messages, activities=activities, **_metadata(catalog, _ts(manifest["start"]), subjects))
