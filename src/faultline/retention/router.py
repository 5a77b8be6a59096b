"""`GET error_tracking/storage/`: stored event bytes of the project and of its largest issues, the budget and disk
readings, and the warnings `/_health` gives. `GET error_tracking/storage/issues/{id}/`: one issue's bytes.

Faultline's own endpoint (PostHog bills storage instead of exposing it); read scope `error_tracking:read`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION
from faultline.http.routing import Router
from faultline.issues.models import Issue
from faultline.retention import usage
from faultline.retention.watch import StorageWatch

router = Router(tags=["error tracking storage"])
READ = project_access("error_tracking:read")
MAX_ISSUES = 100


class IssueStorage(BaseModel):
    id: uuid.UUID
    name: str | None = None
    event_bytes: int
    events: int
    occurrences: int


class BudgetState(BaseModel):
    bytes: int | None
    used_percent: float | None
    warn_percent: int


class DiskState(BaseModel):
    total: int
    used: int
    used_percent: float


class Warning(BaseModel):
    code: str
    detail: str


class StorageReport(BaseModel):
    event_bytes: int
    events: int
    budget: BudgetState
    disk: DiskState | None
    issues: list[IssueStorage]
    warnings: list[Warning]


def watch_of(request: Request) -> StorageWatch:
    watch: StorageWatch = request.app.state.storage_watch
    return watch


def report(session: Session, watch: StorageWatch, project_id: int, issues: int) -> dict[str, Any]:
    """The storage report of one project (the REST answer and the UI page's data)."""
    event_bytes, events = usage.project_usage(session, project_id)
    state = watch.state()
    return {
        "event_bytes": event_bytes,
        "events": events,
        "budget": {
            "bytes": state.budget or None,
            "used_percent": state.budget_percent,
            "warn_percent": state.warn_percent,
        },
        "disk": (
            {"total": state.disk.total, "used": state.disk.used, "used_percent": state.disk.percent}
            if state.disk
            else None
        ),
        "issues": [
            {"id": i, "name": name, "event_bytes": size, "events": count, "occurrences": occurrences}
            for i, name, size, count, occurrences in usage.largest_issues(session, project_id, issues)
        ],
        "warnings": [{"code": w["code"], "detail": w["detail"]} for w in state.warnings()],
    }


@router.get("/error_tracking/storage/", response_model=StorageReport, summary="Stored event bytes and warnings")
def storage(
    request: Request,
    issues: int = Query(20, ge=0, le=MAX_ISSUES, description="How many of the largest issues to list."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    return report(session, watch_of(request), ctx.project_id, issues)


@router.get("/error_tracking/storage/issues/{issue_id}/", response_model=IssueStorage, summary="An issue's bytes")
def issue_storage(
    issue_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    try:
        parsed = uuid.UUID(issue_id)
    except ValueError:
        raise errors.not_found() from None
    issue = session.get(Issue, parsed)
    if issue is None or issue.project_id != ctx.project_id:
        raise errors.not_found()
    size, count = usage.issue_bytes(session, ctx.project_id, [parsed]).get(parsed, (0, 0))
    return {"id": parsed, "name": issue.name, "event_bytes": size, "events": count, "occurrences": issue.occurrences}
