"""Pure functions of the App API source: hosts, read windows, and turning API objects into
Arrow rows (messages) or plain rows (metadata), with unusable objects set aside with a reason."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Iterable

import orjson
import pyarrow as pa

from .settings import (
    DEFAULT_BACKFILL_DAYS, MAX_WINDOW_DAYS, MESSAGE_ID_FIELDS, MESSAGE_TEXT_FIELDS, METRIC_KEYS, REGION_URLS,
)

DAY_S = 86_400

_IDENTIFIER_KEYS = ("id", "email", "cio_id")
_KNOWN_MESSAGE_KEYS = frozenset(
    ("id", "created", "customer_id", "customer_identifiers", "metrics", "forgotten", "tracked_responses")
    + MESSAGE_ID_FIELDS + MESSAGE_TEXT_FIELDS
)

MESSAGE_SCHEMA = pa.schema(
    [("id", pa.string()), ("created", pa.int64()), ("deduplicate_id", pa.string()), ("type", pa.string()),
     ("customer_id", pa.string())]
    + [(f"customer_identifiers__{key}", pa.string()) for key in _IDENTIFIER_KEYS]
    + [("customer_identifiers", pa.string())]
    + [(name, pa.string()) for name in MESSAGE_TEXT_FIELDS if name not in ("deduplicate_id", "type")]
    + [("forgotten", pa.bool_())]
    + [(name, pa.string()) for name in MESSAGE_ID_FIELDS]
    + [("metrics", pa.string())]
    + [(f"metrics__{key}", pa.int64()) for key in METRIC_KEYS]
    + [("tracked_responses", pa.string()), ("extra_fields", pa.string()),
       ("_endpoint", pa.string()), ("_loaded_at", pa.timestamp("us", tz="UTC"))]
)

QUARANTINE_SCHEMA = pa.schema([
    ("quarantine_id", pa.string()), ("resource", pa.string()), ("endpoint", pa.string()),
    ("raw", pa.string()), ("reason", pa.string()), ("quarantined_at", pa.timestamp("us", tz="UTC")),
])


class InvalidRow(ValueError):
    """An API object that cannot be loaded; the message is the quarantine reason."""


# ---------------------------------------------------------------- hosts and windows
def base_url_for(region: str | None, api_url: str | None = None, region_urls: dict[str, str] = REGION_URLS) -> str:
    """The App API host: `api_url` when given (a proxy or a test server), else the region's."""
    if api_url:
        return api_url.rstrip("/")
    key = (region or "us").strip().lower()
    if key not in region_urls:
        raise ValueError(f"CUSTOMERIO_REGION must be one of {', '.join(sorted(region_urls))} (got {region!r})")
    return region_urls[key].rstrip("/")


def parse_time(value: str | int | datetime | None) -> int | None:
    """ISO-8601 (UTC when no offset), a datetime or unix seconds -> unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 time; use e.g. 2026-05-01 or 2026-05-01T06:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def read_start(since: int | None, read_until: int | None, reread_days: int, until: int,
               backfill_days: int = DEFAULT_BACKFILL_DAYS) -> int:
    """Where this run starts reading deliveries (by `created`).

    An explicit `since` wins (a backfill or a forced re-read); else the end of the previous
    run minus the re-read window; else (first run) `backfill_days` before `until`.
    """
    if since is not None:
        return since
    if read_until is not None:
        return min(read_until, until) - reread_days * DAY_S
    return until - backfill_days * DAY_S


def windows(start: int, end: int, max_days: int = MAX_WINDOW_DAYS, min_parts: int = 1) -> list[tuple[int, int]]:
    """Consecutive, non-overlapping [start_ts, end_ts] windows (both inclusive) of at most
    `max_days`, at least `min_parts` of them when the range allows, covering [start, end],
    oldest first."""
    if end < start:
        return []
    total = end - start + 1
    parts = min(total, max(-(-total // (max_days * DAY_S)), min_parts))
    size = -(-total // parts)
    out, lo = [], start
    while lo <= end:
        hi = min(lo + size - 1, end)
        out.append((lo, hi))
        lo = hi + 1
    return out


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- values
def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def id_text(value: Any, field: str) -> str | None:
    """An id as text: Customer.io sends ids as integers or strings (`cio_id` both ways)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if _is_int(value):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise InvalidRow(f"{field} is not a string or an integer (got {type(value).__name__})")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _dumps(value)


def quarantine_row(resource: str, endpoint: str, raw: Any, reason: str, loaded_at: datetime) -> dict:
    text = raw if isinstance(raw, str) else _dumps(raw)
    digest = hashlib.md5(f"{resource}|{endpoint}|{text}".encode()).hexdigest()
    return {"quarantine_id": digest, "resource": resource, "endpoint": endpoint, "raw": text,
            "reason": reason, "quarantined_at": loaded_at}


# ---------------------------------------------------------------- messages
_ROW_COLUMNS = [name for name in MESSAGE_SCHEMA.names if name not in ("_endpoint", "_loaded_at")]


def _id(value: Any, field: str) -> str | None:
    return value if value is None or type(value) is str else id_text(value, field)


def message_values(message: Any) -> tuple:
    """One /v1/messages object as the values of MESSAGE_SCHEMA's columns (without `_endpoint`
    and `_loaded_at`), in order; InvalidRow (the quarantine reason) when it cannot be used."""
    if type(message) is not dict:
        raise InvalidRow(f"not a JSON object (got {type(message).__name__})")
    get = message.get
    delivery_id = _id(get("id"), "id")
    if not delivery_id:
        raise InvalidRow("missing id")
    created = get("created")
    if created is None:
        raise InvalidRow("missing created")
    if not _is_int(created):
        raise InvalidRow(f"created is not an integer of unix seconds (got {type(created).__name__})")
    metrics = get("metrics") or {}
    if type(metrics) is not dict:
        raise InvalidRow(f"metrics is not an object (got {type(metrics).__name__})")
    for key, value in metrics.items():
        if value is not None and not _is_int(value):
            raise InvalidRow(f"metrics.{key} is not an integer (got {type(value).__name__})")
    identifiers = get("customer_identifiers")
    if identifiers is not None and type(identifiers) is not dict:
        raise InvalidRow(f"customer_identifiers is not an object (got {type(identifiers).__name__})")
    identifiers = identifiers or {}
    forgotten = get("forgotten")
    extra = {k: v for k, v in message.items() if k not in _KNOWN_MESSAGE_KEYS}
    return (
        delivery_id, created, _text(get("deduplicate_id")), _text(get("type")),
        _id(get("customer_id"), "customer_id"),
        *(_id(identifiers.get(key), f"customer_identifiers.{key}") for key in _IDENTIFIER_KEYS),
        _dumps(identifiers) if identifiers else None,
        *(_text(get(name)) for name in MESSAGE_TEXT_FIELDS if name not in ("deduplicate_id", "type")),
        forgotten if type(forgotten) is bool else None,
        *(_id(get(name), name) for name in MESSAGE_ID_FIELDS),
        _dumps(metrics),
        *(metrics.get(key) for key in METRIC_KEYS),
        _text(get("tracked_responses")),
        _dumps(extra) if extra else None,
    )


def message_row(message: Any, loaded_at: datetime, endpoint: str) -> dict:
    """One /v1/messages object as a row (dict) of MESSAGE_SCHEMA; InvalidRow when unusable."""
    return {**dict(zip(_ROW_COLUMNS, message_values(message))), "_endpoint": endpoint, "_loaded_at": loaded_at}


def messages_to_arrow(messages: Iterable[Any], loaded_at: datetime, endpoint: str) -> tuple[pa.Table, pa.Table]:
    """(good rows, quarantined objects) of one page of /v1/messages, as Arrow tables (built
    column by column: a page is 1000 objects and this runs at 10 pages a second)."""
    rows: list[tuple] = []
    bad: list[dict] = []
    for message in messages:
        try:
            rows.append(message_values(message))
        except InvalidRow as exc:
            bad.append(quarantine_row("messages", endpoint, message, str(exc), loaded_at))
    columns = list(zip(*rows)) if rows else [()] * len(_ROW_COLUMNS)
    arrays = [pa.array(values, type=MESSAGE_SCHEMA.field(name).type) for name, values in zip(_ROW_COLUMNS, columns)]
    arrays.append(pa.array([endpoint] * len(rows), type=pa.string()))
    arrays.append(pa.array([loaded_at] * len(rows), type=MESSAGE_SCHEMA.field("_loaded_at").type))
    return (pa.Table.from_arrays(arrays, schema=MESSAGE_SCHEMA),
            pa.Table.from_pylist(bad, schema=QUARANTINE_SCHEMA))


# ---------------------------------------------------------------- metadata
def metadata_rows(objects: Iterable[Any], resource: str, endpoint: str, loaded_at: datetime,
                  parent: tuple[str, Any] | None = None) -> tuple[list[dict], list[dict]]:
    """(rows, quarantined) of a metadata list: each object as it came, plus the parent id
    (e.g. `campaign_id` for campaign actions) when the object lacks it, and `_loaded_at`."""
    rows, bad = [], []
    for obj in objects:
        if not isinstance(obj, dict):
            bad.append(quarantine_row(resource, endpoint, obj, f"not a JSON object (got {type(obj).__name__})", loaded_at))
            continue
        if obj.get("id") is None or obj.get("id") == "":
            bad.append(quarantine_row(resource, endpoint, obj, "missing id", loaded_at))
            continue
        row = dict(obj)
        if parent is not None and row.get(parent[0]) is None:
            row[parent[0]] = parent[1]
        row["_loaded_at"] = loaded_at
        rows.append(row)
    return rows, bad


def pick_list(body: Any, keys: str | tuple[str, ...]) -> list:
    """The list under the first of `keys` present in a response body ([] when none)."""
    if not isinstance(body, dict):
        return []
    for key in (keys,) if isinstance(keys, str) else keys:
        value = body.get(key)
        if isinstance(value, list):
            return value
    return []
