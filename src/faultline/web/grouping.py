"""Explain why an event landed in its issue, from its `$exception_fingerprint_record` (spec §5.5).

The record only names the pieces that were hashed ("Exception Type", "Resolved function name"…); this module pairs
them with the values from the same event so the page can say "grouped by: type TypeError + frames handleClick
(src/app.ts), …" — the explanation Sentry users ask for when grouping surprises them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faultline.web.stacktrace import ExceptionView, FrameView


@dataclass
class GroupingPart:
    kind: str  # "exception" | "frame" | "other"
    label: str
    pieces: list[str] = field(default_factory=list)
    raw_id: str | None = None


@dataclass
class GroupingExplanation:
    method: str  # "automatic" | "custom" | "manual" | "unknown"
    summary: str
    rule_id: str | None = None
    parts: list[GroupingPart] = field(default_factory=list)


def _pieces(part: Mapping[str, Any]) -> list[str]:
    pieces = part.get("pieces")
    return [str(p)[:100] for p in pieces if isinstance(p, str)][:20] if isinstance(pieces, list) else []


def explain(
    record: Any,
    chain: list[ExceptionView],
    *,
    fingerprint: str | None = None,
) -> GroupingExplanation:
    if not isinstance(record, list) or not record:
        if fingerprint and fingerprint.startswith("custom-rule:"):
            rule = fingerprint.split(":", 1)[1]
            return GroupingExplanation("custom", f"custom grouping rule {rule}", rule_id=rule)
        return GroupingExplanation("unknown", "no fingerprint record was stored for this event")
    first = record[0] if isinstance(record[0], Mapping) else {}
    if first.get("type") == "manual":
        if first.get("source") == "message":
            return GroupingExplanation("manual", "the normalised message (a message-only Sentry event)")
        if first.get("source") == "sentry_fingerprint":
            template = first.get("template")
            shown = ", ".join(str(p)[:60] for p in template[:10]) if isinstance(template, list) else ""
            return GroupingExplanation("manual", f"the Sentry SDK's fingerprint [{shown}]")
        return GroupingExplanation("manual", "manual fingerprint sent by the SDK ($exception_fingerprint)")
    if first.get("type") == "custom":
        rule = str(first.get("rule_id") or "")[:64] or None
        return GroupingExplanation("custom", f"custom grouping rule {rule or ''}".strip(), rule_id=rule)

    exceptions = {exc.id: exc for exc in chain if exc.id}
    frames: dict[str, FrameView] = {f.raw_id: f for exc in chain for f in exc.frames if f.raw_id}
    parts: list[GroupingPart] = []
    summary_bits: list[str] = []
    frame_names: list[str] = []
    exception_position = 0
    for part in record[:200]:
        if not isinstance(part, Mapping):
            continue
        pieces = _pieces(part)
        if part.get("type") == "exception":
            exc = exceptions.get(str(part.get("id"))) if part.get("id") is not None else None
            if exc is None and exception_position < len(chain):
                exc = chain[exception_position]
            exception_position += 1
            type_name = exc.type if exc else "?"
            label = f"type {type_name}"
            if "Exception Message" in pieces and exc is not None and exc.value:
                label += f" + message “{exc.value[:80]}”"
            parts.append(GroupingPart("exception", label, pieces))
            summary_bits.append(label)
        elif part.get("type") == "frame":
            raw_id = str(part.get("raw_id") or "")[:200] or None
            frame = frames.get(raw_id) if raw_id else None
            label = f"{frame.function} ({frame.source or frame.module or '?'})" if frame else f"frame {raw_id or '?'}"
            parts.append(GroupingPart("frame", label, pieces, raw_id=raw_id))
            frame_names.append(frame.function if frame else "?")
        else:
            parts.append(GroupingPart("other", str(part.get("type") or "?")[:50], pieces))
    summary = " + ".join(summary_bits) or "automatic fingerprint"
    if frame_names:
        shown = ", ".join(frame_names[:4]) + ("…" if len(frame_names) > 4 else "")
        summary += f" + {len(frame_names)} frame{'s' if len(frame_names) != 1 else ''} ({shown})"
    return GroupingExplanation("automatic", summary, parts=parts)


def name_rule(explanation: GroupingExplanation, label: str | None) -> GroupingExplanation:
    """Say which grouping rule grouped the events by what people recognise — its description, else its conditions —
    instead of its UUID; a rule deleted since is said to be deleted."""
    if explanation.method == "custom" and explanation.rule_id:
        explanation.summary = (
            f"grouping rule “{label[:200]}”" if label else "a grouping rule that has since been deleted"
        )
    return explanation
