"""Sentry envelopes, split into items without looking inside most of them.

    {envelope header JSON}\n
    {item header JSON: type, length?, content_type?, ...}\n
    <payload: `length` bytes, or up to the next \n>\n
    ...

Bounded before any work: header lines (`FAULTLINE_SENTRY_MAX_HEADER_BYTES`) and the number of items
(`FAULTLINE_SENTRY_MAX_ITEMS`); a `length` past the end of the body, a header line that is not a JSON object or an
item without a `type` make the whole envelope malformed (400) — a truncated envelope is a broken transport, and
guessing which part of it is intact would store garbage. Payloads are memoryview slices of the decoded body, so
attachments and replays that are only counted are never copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

_NEWLINE = 0x0A


class EnvelopeError(Exception):
    """The envelope cannot be read; `status` is 400 (malformed) or 413 (over a limit)."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(slots=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: memoryview
    length_mismatch: bool = False  # `length` ran past the end of the body; the item was read as a line


@dataclass(slots=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item]


def _header_line(data: memoryview, start: int, max_header_bytes: int, what: str) -> tuple[dict[str, Any], int]:
    """The JSON object on the line starting at `start`, and where the next line starts."""
    window = bytes(data[start : start + max_header_bytes + 1])
    end = window.find(b"\n")
    if end == -1:
        if len(window) > max_header_bytes:
            raise EnvelopeError(
                f"{what} is longer than {max_header_bytes} bytes (FAULTLINE_SENTRY_MAX_HEADER_BYTES).", status=413
            )
        end = len(window)
    line = window[:end]
    try:
        value = orjson.loads(line) if line.strip() else None
    except orjson.JSONDecodeError:
        raise EnvelopeError(f"{what} is not valid JSON.") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} must be a JSON object.")
    return value, start + end + 1


def parse(body: bytes | bytearray, *, max_items: int, max_header_bytes: int) -> Envelope:
    data = memoryview(body)
    size = len(data)
    headers, pos = _header_line(data, 0, max_header_bytes, "Envelope header")
    items: list[Item] = []
    while pos < size:
        # Blank lines between items (and a trailing newline) carry nothing.
        if data[pos] == _NEWLINE or bytes(data[pos : pos + 1]).isspace():
            pos += 1
            continue
        if len(items) >= max_items:
            raise EnvelopeError(f"Envelope has more than {max_items} items (FAULTLINE_SENTRY_MAX_ITEMS).", status=413)
        item_headers, pos = _header_line(data, pos, max_header_bytes, f"Header of item {len(items)}")
        kind = item_headers.get("type")
        if not isinstance(kind, str) or not kind:
            raise EnvelopeError(f"Item {len(items)} has no `type`.")
        length = item_headers.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise EnvelopeError(f"Item {len(items)} has an invalid `length`.")
            end = pos + length
            if end <= size:
                payload = data[pos:end]
                pos = end
                if pos < size:
                    if data[pos] != _NEWLINE:
                        raise EnvelopeError(f"Item {len(items)} ({kind}) is longer than its declared `length`.")
                    pos += 1
                items.append(Item(kind, item_headers, payload))
                continue
            # A `length` past the end of the body: read the item as a line instead. Envelopes edited after the
            # SDK wrote them (a proxy that rewrote a path, the recorded fixture) look like this; a payload that was
            # really cut short is still refused, by the JSON check of the items that are parsed.
            mismatched = True
        else:
            mismatched = False
        end = _find_newline(data, pos)
        end = size if end == -1 else end
        payload = data[pos:end]
        pos = end + 1
        items.append(Item(kind, item_headers, payload, length_mismatch=mismatched))
    return Envelope(headers, items)


def _find_newline(data: memoryview, start: int, step: int = 1 << 16) -> int:
    """Absolute index of the next newline at or after `start`, or -1 (scanning in slices, never the whole body)."""
    pos = start
    while pos < len(data):
        chunk = bytes(data[pos : pos + step])
        found = chunk.find(b"\n")
        if found != -1:
            return pos + found
        pos += len(chunk)
    return -1
