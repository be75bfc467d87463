"""A webhook body -> the one JSONL line stored for it.

Customer.io posts one JSON object per request (customerio-formats.md §1.1). The body is stored
byte for byte. Anything that is not a UTF-8 JSON object is refused (the receiver answers 400):
a line the loader could not parse is worth nothing, and the sender learns at once.

A valid JSON text can only hold raw CR or LF bytes as whitespace between tokens (inside strings
they must be escaped), and no UTF-8 multi-byte sequence contains those bytes. So a body with raw
line breaks (pretty-printed JSON) becomes one line by turning each CR/LF into a space: the same
JSON value, the same length, every other byte unchanged. (The signature was checked on the raw body.)
"""

from __future__ import annotations

import json


class InvalidBody(ValueError):
    """The body is not one JSON object; the message says why (no body content: it may hold PII)."""


_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
          type(None): "null"}


def _refuse_constant(name: str):
    raise InvalidBody(f"not valid JSON ({name} is not a JSON value)")


def jsonl_line(raw: bytes) -> bytes:
    """The line to append (ending in a newline) for a request body, or InvalidBody."""
    if not raw.strip():
        raise InvalidBody("empty body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidBody(f"not valid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(value, dict):
        raise InvalidBody(f"not a JSON object (got {_KINDS.get(type(value), 'another value')})")
    if b"\n" in raw or b"\r" in raw:
        raw = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return raw + b"\n"
