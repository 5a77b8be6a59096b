"""Stage 2 (spec §5.5): choose the fingerprint — manual, then grouping rule, then automatic V1.

V1 is one streaming SHA-512 over concatenated UTF-8 pieces with no separators; the per-event
`$exception_fingerprint_record` lists which pieces of which exception/frame went in, so a user can see *why* two
events were grouped together (golden vectors M1/M3/M5 in tests/pipeline/test_fingerprint.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from faultline.protocol import Frame, GroupingDecision, ResolvedException

MANUAL_MAX_BYTES = 64


@dataclass(slots=True)
class Fingerprint:
    value: str
    record: list[dict[str, Any]]
    version: str | None = None  # "v1" for automatic, None for manual/custom
    grouping: GroupingDecision | None = field(default=None)


def manual(client_value: str) -> Fingerprint:
    raw = client_value.encode("utf-8", "surrogatepass")
    value = hashlib.sha512(raw).hexdigest() if len(raw) > MANUAL_MAX_BYTES else client_value
    return Fingerprint(value=value, record=[{"type": "manual"}])


def custom(decision: GroupingDecision) -> Fingerprint:
    return Fingerprint(
        value=decision.fingerprint, record=[{"type": "custom", "rule_id": str(decision.rule_id)}], grouping=decision
    )


def _included_frames(frames: Sequence[Frame]) -> list[Frame]:
    if not frames:
        return []
    if not any(f.in_app for f in frames):
        return [frames[0]]
    any_resolved = any(f.resolved for f in frames)
    return [f for f in frames if f.in_app and (f.resolved or not any_resolved)]


def v1(exceptions: Sequence[ResolvedException | Mapping[str, Any]]) -> Fingerprint:
    """Over resolved exceptions (or their stored JSON, `stacktrace: {"type": "resolved", "frames": [...]}`): an
    exception with a resolved stack contributes its frames, one without its message."""
    typed = [e if isinstance(e, ResolvedException) else ResolvedException.from_stored(e) for e in exceptions]
    digest = hashlib.sha512()
    record: list[dict[str, Any]] = []

    def feed(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass"))

    for exc in typed:
        feed(str(exc.json.get("type", "")))
        pieces = ["Exception Type"]
        if not exc.resolved_stack:
            feed(str(exc.json.get("value") or ""))
            pieces.append("Exception Message")
        record.append({"type": "exception", "id": exc.json.get("id"), "pieces": pieces})
        if not exc.resolved_stack:
            continue
        for frame in _included_frames(exc.frames):
            frame_pieces: list[str] = []
            if frame.source:
                feed(frame.source)
                frame_pieces.append("Source file name")
            if frame.module:
                feed(frame.module)
                frame_pieces.append("Module name")
            if frame.resolved_name:
                feed(frame.resolved_name)
                frame_pieces.append("Resolved function name")
            else:
                feed(frame.mangled_name or "")
                frame_pieces.append("Mangled function name")
                if frame.line is not None:
                    feed(str(frame.line))
                    frame_pieces.append("Line number")
                if frame.column is not None:
                    feed(str(frame.column))
                    frame_pieces.append("Column number")
                feed(frame.lang or "")
                frame_pieces.append("Language")
            record.append({"type": "frame", "raw_id": frame.raw_id, "pieces": frame_pieces})
    return Fingerprint(value=digest.hexdigest(), record=record, version="v1")


# -- Sentry protocol: `fingerprint` templates and message-only events ----------------------------------------------

DEFAULT_PLACEHOLDER = "{{ default }}"
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{16,}\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def is_default(piece: str) -> bool:
    """Sentry accepts `{{ default }}` with any spacing (`{{default}}`) and case."""
    return piece.replace(" ", "").lower() == "{{default}}"


def normalise_message(message: str) -> str:
    """What message-only events are grouped by: the message with the parts that vary per occurrence (ids, hex
    addresses, numbers) replaced, so "order 41 failed" and "order 42 failed" are one issue."""
    text = _UUID.sub("<uuid>", message.strip())
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub("<n>", text)


def message(text: str) -> Fingerprint:
    """A message-only event (Sentry `capture_message`, logging): its normalised message. The record says
    `manual` too, so re-processing after a symbol upload does not replace it by a stack-based one."""
    digest = hashlib.sha512(("message:" + normalise_message(text)).encode("utf-8", "surrogatepass")).hexdigest()
    return Fingerprint(value=digest, record=[{"type": "manual", "source": "message", "pieces": ["Normalised message"]}])


def templated(template: Sequence[str], default: Fingerprint | None) -> Fingerprint:
    """A Sentry `fingerprint`: its pieces with `{{ default }}` replaced by the default fingerprint's value, hashed
    (as Sentry groups `["{{ default }}", "x"]` apart from the default grouping). Recorded as manual so re-processing
    keeps it, together with what the default came from."""
    parts = [(default.value if default is not None else "") if is_default(piece) else f"={piece}" for piece in template]
    digest = hashlib.sha512("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    record: list[dict[str, Any]] = [{"type": "manual", "source": "sentry_fingerprint", "template": list(template)}]
    if default is not None and any(is_default(p) for p in template):
        record += default.record
    return Fingerprint(value=digest, record=record, grouping=default.grouping if default is not None else None)
