"""Identifier helpers.

Issues and most rows use UUIDv7 (time-ordered) like PostHog's cymbal does, so "newest first" is an index scan and
ids created close in time sit close together in B-trees. Python 3.11 has no `uuid.uuid7`, hence this helper.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7, monotonic within this process (12-bit counter in rand_a)."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave headroom before overflow
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted within one ms: borrow the next millisecond
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def parse_uuid(value: object) -> uuid.UUID | None:
    """A UUID from an untrusted value, or None (never raises)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_ascii_int(value: object, *, max_digits: int = 12) -> int | None:
    """A non-negative integer written in ASCII digits only, or None (never raises).

    `str.isdigit()` accepts superscripts and other scripts' digits: `int("²")` then raises (a 500), while
    `int("١")` quietly returns 1, so `/api/environments/%D9%A1/` would be an alias of project 1. Ids, limits and
    header values are plain ASCII; anything else is treated as absent or not found by the caller.
    """
    if not isinstance(value, str) or not 0 < len(value) <= max_digits:
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)


# Integer primary keys (projects, users) are 32-bit on PostgreSQL: a larger id cannot exist, and binding one makes
# PostgreSQL fail the whole query ("integer out of range") instead of finding nothing.
MAX_SERIAL_ID = 2**31 - 1


def parse_serial_id(value: object) -> int | None:
    """An integer primary key from untrusted text (ASCII digits, 1…2³¹−1), or None."""
    parsed = parse_ascii_int(value, max_digits=10)
    return parsed if parsed is not None and 0 < parsed <= MAX_SERIAL_ID else None
