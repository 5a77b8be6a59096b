"""Activity entries and lifecycle notifications, written in the caller's transaction.

Both the REST API (status changes, assignment, merge, split) and the digest worker (issue created, reopened) go
through these two functions so the activity log and the outbox have one format (spec §2.12, §5.7).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import utcnow
from faultline.ids import uuid7
from faultline.issues.models import ActivityLog, NotificationOutbox

SCOPE = "ErrorTrackingIssue"

STATUS_LABELS = {
    "active": "Active",
    "resolved": "Resolved",
    "suppressed": "Suppressed",
    "archived": "Archived",
    "pending_release": "Pending release",
}

# Internal CDP event names (PostHog's `$error_tracking_issue_*`).
ISSUE_CREATED = "$error_tracking_issue_created"
ISSUE_REOPENED = "$error_tracking_issue_reopened"
ISSUE_RESOLVED = "$error_tracking_issue_resolved"
ISSUE_SUPPRESSED = "$error_tracking_issue_suppressed"
ISSUE_ASSIGNED = "$error_tracking_issue_assigned"
ISSUE_UNASSIGNED = "$error_tracking_issue_unassigned"
ISSUE_MERGED = "$error_tracking_issue_merged"
ISSUE_SPLIT = "$error_tracking_issue_split"

STATUS_EVENTS = {"active": ISSUE_REOPENED, "resolved": ISSUE_RESOLVED, "suppressed": ISSUE_SUPPRESSED}


def change(field: str, before: Any, after: Any, action: str = "changed") -> dict[str, Any]:
    return {"type": SCOPE, "action": action, "field": field, "before": before, "after": after}


def activity_row(
    *,
    project_id: int,
    issue_id: uuid.UUID,
    activity: str,
    user_id: int | None,
    name: str | None,
    changes: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A row for `activity_log`, for callers that batch-insert (the digest worker)."""
    detail: dict[str, Any] = {"type": SCOPE, "name": name, "changes": [dict(c) for c in changes]}
    if extra:
        detail.update(extra)
    return {
        "id": uuid7(),
        "project_id": project_id,
        "scope": SCOPE,
        "item_id": str(issue_id),
        "activity": activity,
        "user_id": user_id,
        "detail": detail,
        "created_at": created_at or utcnow(),
    }


def record_activity(session: Session, **kwargs: Any) -> None:
    session.execute(sa.insert(ActivityLog.__table__), [activity_row(**kwargs)])


def issue_properties(
    *,
    name: str | None,
    description: str | None,
    status: str,
    severity: str | None,
    first_seen: dt.datetime | None,
    fingerprint: str | None,
    assignee: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The common property set of every lifecycle event (what alert templates and webhooks read)."""
    return {
        "name": name,
        "description": description,
        "issue_description": description,
        "status": STATUS_LABELS.get(status, status),
        "severity": severity,
        "first_seen": first_seen.isoformat() if first_seen else None,
        "fingerprint": fingerprint,
        "assignee": orjson.dumps(dict(assignee)).decode() if assignee else None,
    }


def outbox_row(
    *,
    project_id: int,
    event: str,
    issue_id: uuid.UUID,
    properties: Mapping[str, Any],
    person: Mapping[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "project_id": project_id,
        "event": event,
        "distinct_id": str(issue_id),
        "properties": dict(properties),
        "person": dict(person) if person else None,
        "created_at": created_at or utcnow(),
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
    }


def emit(session: Session, **kwargs: Any) -> None:
    session.execute(sa.insert(NotificationOutbox.__table__), [outbox_row(**kwargs)])


def person_of(user: Any) -> dict[str, Any] | None:
    """PostHog's minimal actor: `{id, distinct_id, email, first_name}`."""
    if user is None:
        return None
    return {"id": user.id, "distinct_id": user.distinct_id, "email": user.email, "first_name": user.first_name}
