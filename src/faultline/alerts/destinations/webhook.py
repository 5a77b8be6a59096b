"""Generic webhook: the message as JSON, signed so the receiver can tell it came from us and is fresh.

`X-Faultline-Timestamp: <unix seconds>` and `X-Faultline-Signature: sha256=<hex HMAC-SHA256 of "<ts>.<body>">` keyed
with the destination's secret (shown once when the destination is created). Signing the timestamp with the body lets
a receiver refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson

from faultline.alerts.destinations.base import Message, Target

TIMESTAMP_HEADER = "X-Faultline-Timestamp"
SIGNATURE_HEADER = "X-Faultline-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def payload(message: Message) -> dict[str, Any]:
    data = message.as_json()
    return {
        "trigger": data["trigger"],
        "issue": {
            "id": data["issue_id"],
            "name": data["title"],
            "description": data["description"],
            "first_frame": data["frame"],
            "release": data["release"],
            "environment": data["environment"],
        },
        "counts": data["counts"],
        "link": data["link"],
        "project": data["project"],
        "alert": data["alert"],
        "timestamp": data["timestamp"],
    }


def request(target: Target, message: Message) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and headers to send (the signature covers these bytes)."""
    timestamp = str(int(time.time()))
    raw = orjson.dumps(payload(message))
    headers = {TIMESTAMP_HEADER: timestamp}
    if target.secret:
        headers[SIGNATURE_HEADER] = signature(target.secret, timestamp, raw)
    return raw, headers
