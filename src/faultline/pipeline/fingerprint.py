"""Stage 2 (spec §5.5): choose the fingerprint — manual, then grouping rule, then automatic V1.

V1 is one streaming SHA-512 over concatenated UTF-8 pieces with no separators; the per-event
`$exception_fingerprint_record` lists which pieces of which exception/frame went in, so a user can see *why* two
events were grouped together (golden vectors M1/M3/M5 in tests/pipeline/test_fingerprint.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faultline.pipeline.seams import GroupingDecision

MANUAL_MAX_BYTES = 64


@dataclass
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


def _included_frames(frames: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not frames:
        return []
    if not any(f.get("in_app") for f in frames):
        return [frames[0]]
    any_resolved = any(f.get("resolved") for f in frames)
    return [f for f in frames if f.get("in_app") and (f.get("resolved") or not any_resolved)]


def v1(exceptions: Sequence[dict[str, Any]]) -> Fingerprint:
    """`exceptions` after resolution: a resolved stack is `stacktrace: {"type": "resolved", "frames": [...]}`."""
    digest = hashlib.sha512()
    record: list[dict[str, Any]] = []

    def feed(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass"))

    for exc in exceptions:
        feed(str(exc.get("type", "")))
        pieces = ["Exception Type"]
        stack = exc.get("stacktrace")
        resolved_stack = isinstance(stack, dict) and stack.get("type") == "resolved"
        if not resolved_stack:
            feed(str(exc.get("value") or ""))
            pieces.append("Exception Message")
        record.append({"type": "exception", "id": exc.get("id"), "pieces": pieces})
        if not resolved_stack:
            continue
        for frame in _included_frames(stack.get("frames") or []):
            frame_pieces: list[str] = []
            if frame.get("source"):
                feed(frame["source"])
                frame_pieces.append("Source file name")
            if frame.get("module"):
                feed(frame["module"])
                frame_pieces.append("Module name")
            if frame.get("resolved_name"):
                feed(frame["resolved_name"])
                frame_pieces.append("Resolved function name")
            else:
                feed(frame.get("mangled_name") or "")
                frame_pieces.append("Mangled function name")
                if frame.get("line") is not None:
                    feed(str(frame["line"]))
                    frame_pieces.append("Line number")
                if frame.get("column") is not None:
                    feed(str(frame["column"]))
                    frame_pieces.append("Column number")
                feed(frame.get("lang") or "")
                frame_pieces.append("Language")
            record.append({"type": "frame", "raw_id": frame.get("raw_id"), "pieces": frame_pieces})
    return Fingerprint(value=digest.hexdigest(), record=record, version="v1")
