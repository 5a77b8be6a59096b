"""`GET /api/environments/{id}/error_tracking/ingestion/`: "I sent events and nothing shows up" answered.

Per-day counters of every outcome (received, accepted, dropped_invalid, dropped_suppressed, duplicate, too_large,
queue_full, non_exception, rejected_invalid, failed), their totals over the window, the newest ingestion errors of
the project (plus recent unknown-token errors, which belong to no project), the queue backlog and, under
`health`, whether ingestion is degraded and why (the same reasons `/_health` gives).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http.deps import READ_SESSION
from faultline.http.routing import Router
from faultline.ingest import diagnostics as diag

router = Router(tags=["error_tracking"])


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


class HealthReason(BaseModel):
    code: str
    detail: str
    since: dt.datetime | None


class IngestionHealth(BaseModel):
    status: str
    reasons: list[HealthReason]


class ClientReportItem(BaseModel):
    reason: str
    category: str
    quantity: int


class IngestionReport(BaseModel):
    days: list[IngestionDay]
    totals: dict[str, int]
    recent_errors: list[IngestionErrorItem]
    sentry_items: dict[str, int]
    client_reports: list[ClientReportItem]
    queue: QueueState
    health: IngestionHealth


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
    return diag.report(
        session,
        ctx.project_id,
        days=days,
        errors_limit=errors_limit,
        include_unscoped=ctx.user.is_staff,
        queue=request.app.state.ingest.queue,
        degradations=request.app.state.ingest.degradations(),
    )
