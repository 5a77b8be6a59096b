"""`GET /api/environments/{id}/error_tracking/ingestion/`: "I sent events and nothing shows up" answered.

Per-day counters of every outcome (received, accepted, dropped_invalid, dropped_suppressed, duplicate, too_large,
non_exception, rejected_invalid, failed), their totals over the window, the newest ingestion errors of the project
(plus recent unknown-token errors, which belong to no project) and the queue backlog.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from faultline.db import utcnow
from faultline.http.auth import ProjectContext, project_access
from faultline.http.deps import READ_SESSION
from faultline.http.routing import Router
from faultline.ingest import diagnostics as diag
from faultline.ingest.models import IngestCounter, IngestError

router = Router(tags=["error_tracking"])

COUNTERS = (
    diag.RECEIVED,
    diag.ACCEPTED,
    diag.DUPLICATE,
    diag.DROPPED_INVALID,
    diag.DROPPED_SUPPRESSED,
    diag.REJECTED_INVALID,
    diag.TOO_LARGE,
    diag.NON_EXCEPTION,
    diag.FAILED,
)


class IngestionDay(BaseModel):
    day: dt.date
    counters: dict[str, int]


class IngestionErrorItem(BaseModel):
    created_at: dt.datetime
    stage: str
    code: str
    message: str
    detail: dict[str, Any]
    project_scoped: bool


class QueueState(BaseModel):
    backend: str
    pending: int | None


class IngestionReport(BaseModel):
    days: list[IngestionDay]
    totals: dict[str, int]
    recent_errors: list[IngestionErrorItem]
    queue: QueueState


@router.get(
    "/error_tracking/ingestion/",
    response_model=IngestionReport,
    summary="Ingestion diagnostics: counters per day and recent errors",
)
def ingestion_report(
    request: Request,
    days: int = Query(7, ge=1, le=90, description="How many UTC days of counters (today included)."),
    errors_limit: int = Query(50, ge=1, le=100, description="How many recent errors."),
    ctx: ProjectContext = Depends(project_access("error_tracking:read")),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    since = utcnow().date() - dt.timedelta(days=days - 1)
    counters = IngestCounter.__table__
    rows = session.execute(
        sa.select(counters.c.day, counters.c.name, counters.c.value)
        .where(counters.c.project_id == ctx.project_id, counters.c.day >= since)
        .order_by(counters.c.day.desc())
    ).all()
    per_day: dict[dt.date, dict[str, int]] = {}
    totals = dict.fromkeys(COUNTERS, 0)
    for day, name, value in rows:
        per_day.setdefault(day, dict.fromkeys(COUNTERS, 0))[name] = int(value)
        totals[name] = totals.get(name, 0) + int(value)

    table = IngestError.__table__
    # Unknown-token and oversized-body errors belong to no project; they may carry another tenant's token, so
    # only instance administrators see them (and only the last day's).
    scope = table.c.project_id == ctx.project_id
    if ctx.user.is_staff:
        recent_cutoff = utcnow() - dt.timedelta(days=1)
        scope = sa.or_(scope, sa.and_(table.c.project_id.is_(None), table.c.created_at >= recent_cutoff))
    error_rows = session.execute(sa.select(table).where(scope).order_by(table.c.id.desc()).limit(errors_limit)).all()
    state = request.app.state.ingest
    try:
        pending: int | None = state.queue.pending()
    except Exception:  # the report must work while the queue is down: that is when it is needed most
        pending = None
    return {
        "days": [{"day": day, "counters": values} for day, values in sorted(per_day.items(), reverse=True)],
        "totals": totals,
        "recent_errors": [
            {
                "created_at": r.created_at,
                "stage": r.stage,
                "code": r.code,
                "message": r.message,
                "detail": r.detail or {},
                "project_scoped": r.project_id is not None,
            }
            for r in error_rows
        ],
        "queue": {"backend": state.queue.backend if pending is not None else "unavailable", "pending": pending},
    }
