"""Customer.io's request signature (customerio-formats.md §1.2).

``X-CIO-Signature`` is the lowercase hex HMAC-SHA256, keyed with the webhook signing key, of
``v0:<X-CIO-Timestamp>:<raw body>``. The exact raw bytes are signed: check before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def sign(key: bytes, timestamp: int | str, raw_body: bytes) -> str:
    """The signature Customer.io sends for this body and timestamp."""
    return hmac.new(key, b"v0:" + str(timestamp).encode("ascii") + b":" + raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignatureVerifier:
    """Checks one request; ``check`` returns None when it is genuine, else a short reason."""

    key: bytes = b""  # never logged, never in a repr
    replay_window_s: int = 300
    enabled: bool = True

    def __repr__(self) -> str:
        return f"SignatureVerifier(enabled={self.enabled}, replay_window_s={self.replay_window_s})"

    def check(self, timestamp: str | None, signature: str | None, raw_body: bytes, now: float) -> str | None:
        if not self.enabled:
            return None
        if not timestamp:
            return "missing X-CIO-Timestamp header"
        if not _TIMESTAMP.fullmatch(timestamp):
            return "X-CIO-Timestamp is not an integer of unix seconds"
        skew = now - int(timestamp)
        if abs(skew) > self.replay_window_s:
            direction = "old" if skew > 0 else "in the future"
            return (f"X-CIO-Timestamp is {abs(skew):.0f} s {direction}, outside the replay window "
                    f"of {self.replay_window_s} s")
        if not signature:
            return "missing X-CIO-Signature header"
        if not _HEX_SHA256.fullmatch(signature):
            return "X-CIO-Signature is not a hex HMAC-SHA256"
        if not hmac.compare_digest(sign(self.key, timestamp, raw_body), signature.lower()):
            return "X-CIO-Signature does not match the body (wrong signing key or altered body)"
        return None
