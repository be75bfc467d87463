"""Coerce warehouse values into JSON that Amplitude accepts.

DuckDB hands us ``Decimal``, ``datetime``, numpy scalars, ``bytes`` and so on.
Amplitude's own Python SDK silently drops a whole ``event_properties`` dict when
one value has such a type (reference §6.3), so we convert explicitly and loudly.

``to_json_safe(value)`` rules, applied recursively:

* ``None``, ``bool``, ``int``, ``str`` pass through; strings are cut to 1024
  characters (Amplitude truncates longer strings anyway, reference §1.2).
* ``float``: NaN and +/-inf become ``None``; other floats pass through.
* ``Decimal``: NaN/inf become ``None``; integral values become ``int``,
  others ``float``.
* ``datetime``: ISO-8601 string. A naive datetime is taken to be UTC (DuckDB
  ``TIMESTAMP`` columns in our warehouse hold UTC) and rendered with ``+00:00``.
  ``date`` and ``time`` become their ISO-8601 strings. ``timedelta`` becomes
  seconds as a float.
* numpy scalars become the matching Python value (``numpy.int64`` -> ``int``,
  ``numpy.float32`` -> ``float``, ``numpy.bool_`` -> ``bool``,
  ``numpy.datetime64`` -> ISO string, ``NaT`` -> ``None``); numpy arrays
  become lists.
* ``bytes``/``bytearray``/``memoryview``: decoded as UTF-8 (undecodable bytes
  become U+FFFD), then cut like any string.
* ``list``/``tuple``: lists. ``set``/``frozenset``: lists, sorted when the
  items are sortable so the output is deterministic.
* ``dict``: keys become ``str`` (``str(key)``), values are converted.
* ``UUID`` -> ``str``; ``Enum`` -> its converted ``.value``.
* Anything else raises ``TypeError`` naming the type (never a silent drop).

Events' ``time`` must be an integer count of milliseconds (a float or an ISO
string gets a 400, reference §1.2 and §8.2); build it with ``event_time_ms``.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from decimal import Decimal
from typing import Any

try:  # numpy is a project dependency, but keep this module importable without it
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

MAX_STRING_CHARS = 1024

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MS = dt.timedelta(milliseconds=1)
# Epoch numbers at or above this are already milliseconds: 1e11 seconds is the
# year 5138, while 1e11 milliseconds is March 1973.
_MS_THRESHOLD = 100_000_000_000


def to_json_safe(value: Any) -> Any:
    """Return ``value`` converted to plain JSON types (see the module docstring)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return to_json_safe(value.value)
    if isinstance(value, str):
        return str(value[:MAX_STRING_CHARS])
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return _as_utc(value).isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")[:MAX_STRING_CHARS]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_json_safe(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if np is not None:
        if isinstance(value, np.datetime64):
            return _numpy_datetime(value)
        if isinstance(value, np.ndarray):
            return [to_json_safe(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            return to_json_safe(value.item())
    raise TypeError(f"to_json_safe: cannot convert a value of type {type(value).__name__}")


def event_time_ms(value: Any) -> int:
    """Return ``value`` as integer milliseconds since the Unix epoch.

    Accepts a ``datetime`` (naive = UTC), a ``date`` (midnight UTC), an ISO-8601
    string, a ``numpy.datetime64``, or an epoch number (int, float, Decimal,
    numpy). Epoch numbers below 1e11 are read as seconds, larger ones as
    milliseconds already; this keeps a seconds value from landing in 1970.
    """
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if np is not None and isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("event_time_ms: NaT is not a time")
        return int(value.astype("datetime64[ms]").astype("int64"))
    if isinstance(value, dt.datetime):
        return (_as_utc(value) - _EPOCH) // _ONE_MS
    if isinstance(value, dt.date):
        return (dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc) - _EPOCH) // _ONE_MS
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"event_time_ms: cannot read a time from {type(value).__name__}")
    number = Decimal(value) if isinstance(value, float) else value
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError(f"event_time_ms: {value!r} is not a finite time")
    if abs(number) >= _MS_THRESHOLD:
        return int(number)
    return int(round(Decimal(number) * 1000))


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _numpy_datetime(value: Any) -> str | None:
    if np.isnat(value):
        return None
    micros = value.astype("datetime64[us]").astype("int64")
    return (_EPOCH + dt.timedelta(microseconds=int(micros))).isoformat()
