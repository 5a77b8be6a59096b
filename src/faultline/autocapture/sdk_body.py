"""Decoding the small bodies SDKs POST to `/flags/` and `/decide/`: JSON, gzip (with or without a
`compression` hint; posthog-js sends bare gzip as text/plain), and the `data=<base64>` form of old SDKs and
beacons. Sizes are capped before and during decompression, so a hostile body costs little.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from faultline.http import errors

MAX_BODY = 1 << 20
MAX_DECODED = 4 << 20


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_DECODED + 1)
    except zlib.error:
        raise errors.parse_error("Malformed request: invalid gzip body") from None
    if len(out) > MAX_DECODED or inflater.unconsumed_tail:
        raise errors.payload_too_large("Decoded request body is too large.")
    return out


def _b64(data: bytes) -> bytes:
    cleaned = data.strip().replace(b" ", b"+")
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, altchars=b"-_" if b"-" in cleaned or b"_" in cleaned else None)
    except (binascii.Error, ValueError):
        raise errors.parse_error("Malformed request: invalid base64 body") from None


def decode(body: bytes, content_type: str | None, compression: str | None) -> Any:
    """The JSON document carried by an SDK request body ({} for an empty body)."""
    if len(body) > MAX_BODY:
        raise errors.payload_too_large("Request body is too large.")
    data = body.strip()
    if not data:
        return {}
    if data[:2] == b"\x1f\x8b" or compression in ("gzip", "gzip-js"):
        data = _gunzip(data)
    is_form = (content_type or "").startswith("application/x-www-form-urlencoded") or data.startswith(b"data=")
    if is_form:
        fields = parse_qs(data.decode("latin-1"), max_num_fields=20)
        encoded = (fields.get("data") or [""])[0]
        data = _b64(encoded.encode("latin-1"))
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data)
    elif compression == "base64":
        data = _b64(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise errors.parse_error("Malformed request: body is not JSON") from None
