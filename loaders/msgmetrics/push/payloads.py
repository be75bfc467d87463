"""Amplitude request records built from mart rows (documented in the README)."""

from __future__ import annotations

from collections import defaultdict

from ..amplitude.jsonsafe import to_json_safe

EVENT_PROPERTY_COLUMNS = (
    "channel", "metric", "delivery_id", "parent_type", "campaign_id", "broadcast_id",
    "newsletter_id", "transactional_message_id", "action_id", "content_id", "href",
    "link_id", "is_machine",
)


def event_payload(row: dict) -> dict:
    """One HTTP V2 event from a fct_amplitude_events row. Empty properties are left out."""
    properties = {name: row[name] for name in EVENT_PROPERTY_COLUMNS if row.get(name) is not None}
    properties["cio_event_id"] = row["event_id"]
    event = {
        "user_id": row["user_id"],
        "event_type": row["event_type"],
        "time": int(row["time_ms"]),
        "insert_id": row["insert_id"],
        "event_properties": to_json_safe(properties),
    }
    if row.get("email"):
        event["user_properties"] = {"email": row["email"]}
    return event


def identifications(sets: list[tuple[str, str]], unsets: list[tuple[str, str]]) -> list[dict]:
    """One Identify record per user: $set the cohorts entered, $unset those left."""
    per_user: dict[str, dict[str, dict]] = defaultdict(dict)
    for user_id, name in sets:
        per_user[user_id].setdefault("$set", {})[name] = True
    for user_id, name in unsets:
        per_user[user_id].setdefault("$unset", {})[name] = "-"
    return [{"user_id": user_id, "user_properties": ops} for user_id, ops in sorted(per_user.items())]
