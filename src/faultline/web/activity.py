"""Activity-log entries (the REST API's `activity/` shape) as sentences: "Ada changed status from Active to Resolved".

Entries are written by the issue service, the digest worker and the symbol repair jobs; anything this module does not
recognise still renders as "<activity> <field>: <before> → <after>", never as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faultline.issues.lifecycle import STATUS_LABELS
from faultline.web.people import Directory

MAX_CHANGES = 10


@dataclass
class ActivityLine:
    actor: str
    system: bool
    text: str
    created_at: Any
    links: list[tuple[str, str]] = field(default_factory=list)  # (issue id, label)
    comment: str | None = None  # the text of a comment (activity `commented`), shown as a quote


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else ("nothing" if value is None else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change_text(change: Mapping[str, Any], directory: Directory, *, by_viewer: bool = False) -> str:
    name = str(change.get("field") or "")
    before, after = change.get("before"), change.get("after")
    if name == "status":
        return (
            f"changed status from {STATUS_LABELS.get(str(before), _short(before))} "
            f"to {STATUS_LABELS.get(str(after), _short(after))}"
        )
    if name == "assignee":
        after_label = directory.label(after) if isinstance(after, Mapping) else None
        before_label = directory.label(before) if isinstance(before, Mapping) else None
        if after_label:
            # "You assigned the issue to yourself", never "You assigned to you".
            target = "yourself" if by_viewer and after_label == "you" else after_label
            return f"assigned the issue to {target}" + (f" (was {before_label})" if before_label else "")
        if before_label:
            return "unassigned yourself" if by_viewer and before_label == "you" else f"unassigned {before_label}"
        return "removed the assignee"
    if name == "severity":
        return f"set severity to {_short(after)}" if after else "cleared the severity"
    if name == "name":
        return f"renamed it to “{_short(after)}”"
    if name == "fingerprint":
        action = change.get("action")
        if action == "re-pointed":
            return "moved an unresolved fingerprint here after a source-map upload"
        return "re-grouped events after a symbol-set upload"
    return f"{change.get('action') or 'changed'} {name or 'something'}: {_short(before)} → {_short(after)}"


def _new_issues(count: int) -> str:
    return "a new issue" if count == 1 else "new issues"


def describe(entry: Mapping[str, Any], directory: Directory) -> ActivityLine:
    user = entry.get("user") or {}
    system = bool(user.get("is_system"))
    actor = "System" if system else (user.get("first_name") or user.get("email") or "Someone")
    if not system and user.get("id") == directory.viewer_id:
        actor = "You"
    detail = entry.get("detail") if isinstance(entry.get("detail"), Mapping) else {}
    changes = [c for c in (detail.get("changes") or []) if isinstance(c, Mapping)][:MAX_CHANGES]
    activity = str(entry.get("activity") or "")
    links: list[tuple[str, str]] = []
    if activity == "merged":
        merged = next((c.get("after") for c in changes if c.get("field") == "merged_issue_ids"), None)
        count = len(merged) if isinstance(merged, list) else 0
        text = f"merged {count} issue{'s' if count != 1 else ''} into this one" if count else "merged issues here"
        if detail.get("symbol_set_ref"):
            text += " after a symbol-set upload"
    elif activity == "split":
        new_ids = next((c.get("after") for c in changes if c.get("field") == "split_issue_ids"), None)
        ids = [str(i) for i in new_ids] if isinstance(new_ids, list) else []
        text = f"split {len(ids)} fingerprint{'s' if len(ids) != 1 else ''} off into {_new_issues(len(ids))}"
        renamed = next((c.get("after") for c in changes if c.get("field") == "name"), None)
        if renamed:
            text += f" and renamed this one to “{_short(renamed)}”"
        links = [(issue_id, f"new issue {index + 1}") for index, issue_id in enumerate(ids[:20])]
    elif activity == "created":
        text = "created the issue"
    elif activity == "assigned" and system:
        target = next((c.get("after") for c in changes if c.get("field") == "assignee"), None)
        label = directory.label(target) if isinstance(target, Mapping) else None
        trigger = detail.get("trigger") if isinstance(detail.get("trigger"), Mapping) else {}
        kind = "a grouping rule" if trigger.get("type") == "grouping_rule" else "an assignment rule"
        text = f"assigned the issue to {label or 'someone'} ({kind} matched its first event)"
    elif activity == "commented":
        text = "commented"
        comment = _short(detail.get("comment") or "", 5000)
    elif changes:
        by_viewer = actor == "You"
        text = "; ".join(_change_text(change, directory, by_viewer=by_viewer) for change in changes)
    else:
        text = activity or "changed the issue"
    line = ActivityLine(actor=actor, system=system, text=text, created_at=entry.get("created_at"), links=links)
    if activity == "commented":
        line.comment = comment
    return line
