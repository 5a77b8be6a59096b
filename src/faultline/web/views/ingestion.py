"""Ingestion diagnostics — "I sent events and nothing shows up": counters per day, recent errors, queue backlog.

The numbers are `faultline.ingest.diagnostics.report`, the same report `GET …/error_tracking/ingestion/` returns.
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.responses import Response

from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ingest import diagnostics
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
    diagnostics.NON_EXCEPTION: ("Other events", "not $exception: acknowledged, not stored"),
    diagnostics.FAILED: ("Failed", "the digest crashed on them repeatedly and gave up"),
}
PROBLEMS = (diagnostics.REJECTED_INVALID, diagnostics.TOO_LARGE, diagnostics.DROPPED_INVALID, diagnostics.FAILED)


@router.get("/project/{project_id}/ingestion")
def ingestion_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    raw = request.query_params.get("days", "7")
    days = int(raw) if raw.isdigit() and int(raw) in DAY_CHOICES else 7
    with get_db(request).read() as session:
        report = diagnostics.report(
            session,
            page.project.id,
            days=days,
            errors_limit=50,
            include_unscoped=page.user.is_staff,
            queue=request.app.state.ingest.queue,
        )
    totals = report["totals"]
    context = {
        "page_title": f"Ingestion · {page.project.name}",
        "project": page.project,
        "nav": "ingestion",
        "switch_section": "ingestion",
        "report": report,
        "days": days,
        "day_choices": DAY_CHOICES,
        "counters": [(name, *COUNTER_HELP[name]) for name in diagnostics.COUNTERS],
        "problems": sum(totals.get(name, 0) for name in PROBLEMS),
        "nothing_received": not any(totals.values()),
    }
    return get_templates(request).response(request, "ingestion.html", context)
