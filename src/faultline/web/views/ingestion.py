"""Ingestion diagnostics — "I sent events and nothing shows up": counters per day, recent errors, queue backlog,
stored bytes against the budget, and first of all whether ingestion is degraded (disk full, backlog, storage
nearly full) and why.

The numbers are `faultline.ingest.diagnostics.report`, the same report `GET …/error_tracking/ingestion/` returns.
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.responses import Response

from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_ascii_int
from faultline.ingest import diagnostics
from faultline.retention import router as storage
from faultline.web.deps import ProjectPage, project_page
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

DAY_CHOICES = (1, 7, 30)
COUNTER_HELP = {
    diagnostics.RECEIVED: ("Received", "exception events queued by the capture endpoints"),
    diagnostics.ACCEPTED: ("Stored", "turned into issue events by the digest worker"),
    diagnostics.DUPLICATE: ("Duplicates", "same event uuid again (SDK retries) — stored once"),
    diagnostics.DROPPED_INVALID: ("Unusable", "queued, then found unusable (e.g. an empty exception list)"),
    diagnostics.DROPPED_SUPPRESSED: ("Suppressed", "matched a suppression rule or a suppressed issue"),
    diagnostics.REJECTED_INVALID: ("Rejected", "refused by capture: malformed event (HTTP 400)"),
    diagnostics.TOO_LARGE: ("Too large", "refused by capture: over the size limits (HTTP 413)"),
    diagnostics.QUEUE_FULL: ("Queue full", "refused by capture while the queue was full (HTTP 503, SDKs retry)"),
    diagnostics.RATE_LIMITED: (
        "Rate limited",
        "over a rate limit: per issue counted on the issue but not stored; per project refused (HTTP 429, SDKs retry)",
    ),
    diagnostics.NEW_ISSUE_LIMITED: ("New-issue limited", "would have opened more new issues per hour than allowed"),
    diagnostics.NON_EXCEPTION: ("Other events", "not $exception: acknowledged, not stored"),
    diagnostics.FAILED: ("Failed", "the digest crashed on them at each of 5 deliveries: dead-lettered"),
}
PROBLEMS = (
    diagnostics.REJECTED_INVALID,
    diagnostics.TOO_LARGE,
    diagnostics.QUEUE_FULL,
    diagnostics.DROPPED_INVALID,
    diagnostics.FAILED,
)


@router.get("/project/{project_id}/ingestion")
def ingestion_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    raw = request.query_params.get("days", "7")
    days = parse_ascii_int(raw, max_digits=3)
    days = days if days in DAY_CHOICES else 7
    with get_db(request).read() as session:
        report = diagnostics.report(
            session,
            page.project.id,
            days=days,
            errors_limit=50,
            include_unscoped=page.user.is_staff,
            queue=request.app.state.ingest.queue,
            degradations=request.app.state.ingest.degradations() + storage.watch_of(request).degradations(),
        )
        storage_report = storage.report(session, storage.watch_of(request), page.project.id, issues=10)
    totals = report["totals"]
    context = {
        "page_title": f"Ingestion · {page.project.name}",
        "project": page.project,
        "nav": "ingestion",
        "switch_section": "ingestion",
        "report": report,
        "storage": storage_report,
        "days": days,
        "day_choices": DAY_CHOICES,
        "counters": [(name, *COUNTER_HELP[name]) for name in diagnostics.COUNTERS],
        "problems": sum(totals.get(name, 0) for name in PROBLEMS),
        "nothing_received": not any(totals.values()),
    }
    return get_templates(request).response(request, "ingestion.html", context)
