"""What an issue is called, from one of its events — for issues that are not born in the digest (a split).

The digest names a new issue from its first event (`$issue_name`, else the first exception's type; the description
from `$issue_description`, else that exception's message). A split used to create "Untitled issue" with no
description instead, so the new issue could not be recognised in the list; it now takes its name the same way from
the newest event of the fingerprint it was given. `summarize` is the one-line identity of a fingerprint shown next to
it on the issue page (type, message, top frame) so people can tell which one to split off.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import check_only
from faultline.issues.models import Event
from faultline.issues.sanitize import clean_text

NAME_LIMIT = 255


def _truncate(value: str, limit: int = NAME_LIMIT) -> str:
    """UTF-8-safe truncation to `limit` bytes plus "...", as the digest does for names."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return value
    return raw[:limit].decode("utf-8", "ignore") + "..."


def _chain(properties: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    chain = properties.get("$exception_list")
    return [e for e in chain if isinstance(e, Mapping)] if isinstance(chain, list) else []


def texts(properties: Mapping[str, Any]) -> tuple[str, str]:
    """(name, description) the digest would give an issue created by this event."""
    chain = _chain(properties)
    first = chain[0] if chain else {}
    name = properties.get("$issue_name") or first.get("type") or "Error"
    description = properties.get("$issue_description") or first.get("value") or ""
    return clean_text(_truncate(str(name))), clean_text(_truncate(str(description)))


@dataclass(frozen=True)
class FingerprintSummary:
    events: int
    type: str | None
    message: str | None
    # "function (file:line)" of the frame the exception was raised in: the first in-app frame from the top.
    top_frame: str | None


def _top_frame(chain: Sequence[Mapping[str, Any]]) -> str | None:
    for exc in chain:
        stack = exc.get("stacktrace")
        frames = stack.get("frames") if isinstance(stack, Mapping) else None
        if not isinstance(frames, list) or not frames:
            continue
        candidates = [f for f in frames if isinstance(f, Mapping)]
        # Stored frames are outermost first (the raising frame last), as SDKs send them.
        in_app = [f for f in candidates if f.get("in_app") is True]
        frame = (in_app or candidates)[-1] if candidates else None
        if frame is None:
            continue
        name = frame.get("resolved_name") or frame.get("mangled_name") or "?"
        where = frame.get("source") or frame.get("module") or ""
        line = frame.get("line")
        location = f"{where}:{line}" if where and isinstance(line, int) else where
        return f"{name} ({location})" if location else str(name)
    return None


def newest_event_properties(
    session: Session, project_id: int, issue_id: uuid.UUID, fingerprint: str | None = None
) -> dict[str, Any] | None:
    stmt = sa.select(Event.properties).where(check_only(Event.project_id) == project_id, Event.issue_id == issue_id)
    if fingerprint is not None:
        stmt = stmt.where(Event.fingerprint == fingerprint)
    props = session.execute(stmt.order_by(Event.timestamp.desc(), Event.id.desc()).limit(1)).scalar_one_or_none()
    return props if isinstance(props, dict) else None


def summarize_fingerprints(
    session: Session, project_id: int, issue_id: uuid.UUID, fingerprints: Sequence[str]
) -> dict[str, FingerprintSummary]:
    """Per fingerprint of the issue: its event count and what its newest event says (two queries in all)."""
    if not fingerprints:
        return {}
    rows = session.execute(
        sa.select(Event.fingerprint, sa.func.count(), sa.func.max(Event.id))
        .where(
            check_only(Event.project_id) == project_id,
            Event.issue_id == issue_id,
            Event.fingerprint.in_(list(fingerprints)),
        )
        .group_by(Event.fingerprint)
    ).all()
    newest = {row[2]: row[0] for row in rows}
    props_by_fp: dict[str, Mapping[str, Any]] = {}
    if newest:
        for event_id, props in session.execute(
            sa.select(Event.id, Event.properties).where(Event.id.in_(list(newest)))
        ).all():
            if isinstance(props, Mapping):
                props_by_fp[newest[event_id]] = props
    result: dict[str, FingerprintSummary] = {}
    for fingerprint, count, _newest in rows:
        chain = _chain(props_by_fp.get(fingerprint, {}))
        first = chain[0] if chain else {}
        type_name, message = first.get("type"), first.get("value")
        result[fingerprint] = FingerprintSummary(
            events=int(count),
            type=str(type_name)[:200] if type_name else None,
            message=str(message)[:300] if message else None,
            top_frame=_top_frame(chain),
        )
    return result
