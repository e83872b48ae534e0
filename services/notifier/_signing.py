"""Signatures on generic webhook posts, so a receiver can trust the body and refuse replays.

    X-Aiops-Timestamp: <unix seconds>
    X-Aiops-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>

A receiver recomputes the HMAC over the raw body and refuses timestamps older
than a few minutes; docs/notifications.md shows the few lines it takes.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Aiops-Timestamp"
SIGNATURE_HEADER = "X-Aiops-Signature"
VERSION = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    if not secret:
        return {}
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}
