"""Comments on issues: a note in the issue's activity log ("Ada commented: …"), written by a person.

They are activity entries (activity `commented`, the text in `detail.comment`), so they appear in the issue's
activity — the UI's and the API's `…/activity/` — in order with status changes and assignments, and need no table
of their own. Comments are plain text, at most `MAX_COMMENT_CHARS` characters.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.errors import ValidationFailed
from faultline.issues import lifecycle
from faultline.issues.models import ActivityLog
from faultline.issues.sanitize import clean_text
from faultline.issues.service import get_issue

MAX_COMMENT_CHARS = 5000
COMMENTED = "commented"


class InvalidComment(ValidationFailed, ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message, attr="content")


def add_comment(session: Session, project_id: int, issue_id: uuid.UUID, user_id: int, content: str) -> dict[str, Any]:
    """Store the comment (the issue must be the project's: NotFound otherwise); the new entry's wire shape."""
    text = clean_text(content or "").strip()
    if not text:
        raise InvalidComment("This field may not be blank.")
    if len(text) > MAX_COMMENT_CHARS:
        raise InvalidComment(f"Ensure this field has no more than {MAX_COMMENT_CHARS} characters.")
    issue = get_issue(session, project_id, issue_id)
    row = lifecycle.activity_row(
        project_id=project_id,
        issue_id=issue.id,
        activity=COMMENTED,
        user_id=user_id,
        name=issue.name,
        extra={"comment": text},
    )
    session.execute(sa.insert(ActivityLog.__table__), [row])
    return {"id": row["id"], "content": text, "created_at": row["created_at"], "user_id": user_id}


def list_comments(session: Session, project_id: int, issue_id: uuid.UUID, limit: int = 100) -> list[dict[str, Any]]:
    get_issue(session, project_id, issue_id)
    rows = session.execute(
        sa.select(ActivityLog.id, ActivityLog.detail, ActivityLog.created_at, ActivityLog.user_id)
        .where(
            ActivityLog.project_id == project_id,
            ActivityLog.scope == lifecycle.SCOPE,
            ActivityLog.item_id == str(issue_id),
            ActivityLog.activity == COMMENTED,
        )
        .order_by(ActivityLog.created_at.desc(), ActivityLog.id.desc())
        .limit(limit)
    ).all()
    return [
        {"id": r.id, "content": (r.detail or {}).get("comment", ""), "created_at": r.created_at, "user_id": r.user_id}
        for r in rows
    ]
