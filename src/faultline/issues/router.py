"""`/api/environments/{project_id}/error_tracking/issues/…` — PostHog's issue endpoints (spec §2.1) plus the list
filters, aggregates and per-issue events a self-hosted tracker needs.

HTTP only: parsing, status codes and error shapes. The workflow lives in `service`, reads in `queries`.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.db import utcnow
from faultline.http import errors, links
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import queries, service
from faultline.issues.filters import parse_issue_query
from faultline.issues.sanitize import is_storable
from faultline.issues.schemas import (
    ActivityPage,
    AssignIn,
    BulkIn,
    CohortIn,
    EventOut,
    ExistsOut,
    IssueOut,
    IssueRedirect,
    IssueUpdateIn,
    MergeIn,
    SplitIn,
    SplitOut,
    Success,
    ValuesOut,
)

router = Router(tags=["error tracking: issues"])
BASE = "/error_tracking/issues"

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
ACTIVITY = project_access("activity_log:read")

NOT_FOUND = "Issue not found"
_NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: {"description": "No such issue in this project."}}


def _issue_id(raw: str) -> uuid.UUID:
    parsed = parse_uuid(raw)
    if parsed is None:
        raise errors.not_found(NOT_FOUND)
    return parsed


def _detail(session: Session, ctx: ProjectContext, issue_id: uuid.UUID) -> dict[str, Any]:
    detail = queries.issue_detail(session, ctx.project_id, issue_id, utcnow())
    if detail is None:
        raise errors.not_found(NOT_FOUND)
    return detail


def _issue_query_params(
    status: str | None = Query(None, description="active, resolved, suppressed (comma-separated) or all."),
    severity: str | None = Query(None, description="low, medium, high, critical (comma-separated)."),
    assignee: str | None = Query(
        None, description='"me", "my_roles", "unassigned", "any", "user:<id>" or "role:<uuid>".'
    ),
    search: str | None = Query(None, description="Substring of the name, description, exception type or message."),
    first_seen_after: str | None = Query(None, description="ISO 8601 datetime or relative (-7d, -24h)."),
    first_seen_before: str | None = Query(None),
    last_seen_after: str | None = Query(None),
    last_seen_before: str | None = Query(None),
    date_from: str | None = Query(None, description="Issues seen in the window starting here."),
    date_to: str | None = Query(None, description="Issues seen in the window ending here."),
    order_by: str | None = Query(
        None, description="last_seen (default), first_seen, occurrences, users, created_at, severity (by rank)."
    ),
    order_direction: str | None = Query(None, description="DESC (default) or ASC."),
    release: str | None = Query(None, description="Seen in one of these releases (comma-separated)."),
    environment: str | None = Query(None, description="Seen in one of these environments (comma-separated)."),
    level: str | None = Query(None, description="Has events of one of these levels: fatal, error, warning…"),
) -> dict[str, str]:
    values = {
        "status": status,
        "severity": severity,
        "assignee": assignee,
        "search": search,
        "first_seen_after": first_seen_after,
        "first_seen_before": first_seen_before,
        "last_seen_after": last_seen_after,
        "last_seen_before": last_seen_before,
        "date_from": date_from,
        "date_to": date_to,
        "order_by": order_by,
        "order_direction": order_direction,
        "release": release,
        "environment": environment,
        "level": level,
    }
    return {key: value for key, value in values.items() if value is not None}


# --- collection routes (registered before `{issue_id}` so their names never parse as ids) -------------------------


@router.get(
    f"{BASE}/",
    response_model=Page[IssueOut],
    summary="List issues",
    description="Filtered and sorted from per-issue aggregates (occurrences, users, first/last seen, 24 h and 14 d "
    "volume), newest activity first by default.",
)
def list_issues(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
    params: dict[str, str] = Depends(_issue_query_params),
) -> dict[str, Any]:
    now = utcnow()
    query = parse_issue_query(params, now)
    total, items = queries.list_issues(
        session, ctx.project_id, query, limit=page.limit, offset=page.offset, now=now, user_id=ctx.user.id
    )
    return page.envelope(total, items)


@router.get(f"{BASE}/exists/", response_model=ExistsOut, summary="Whether the project has any issue")
def exists(ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> dict[str, bool]:
    return {"exists": queries.issue_exists(session, ctx.project_id)}


@router.get(f"{BASE}/values/", response_model=ValuesOut, summary="Issue names or descriptions containing a value")
def values(
    key: str | None = Query(None, description="name or issue_description"),
    value: str | None = Query(None, description="Substring the returned values must contain."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    found = queries.issue_values(session, ctx.project_id, key, value)
    return {"results": [{"name": v} for v in found], "refreshing": False}


@router.post(f"{BASE}/bulk/", response_model=Success, summary="Set status, assign or merge many issues")
def bulk(
    body: BulkIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, bool]:
    ids = [parsed for raw in body.ids if (parsed := parse_uuid(raw)) is not None]
    if body.action == "set_status":
        service.bulk_set_status(session, ctx.project_id, ids, body.status, ctx.user)
    elif body.action == "assign":
        assignee = body.assignee.to_assignee() if body.assignee is not None else None
        service.bulk_assign(session, ctx.project_id, ctx.project.organization_id, ids, assignee, ctx.user)
    else:
        _target, outcome = service.bulk_merge(session, ctx.project_id, ids, ctx.user)
        return {"success": outcome.result is service.MergeResult.MERGED}
    return {"success": True}


def _activity_link(request: Request, page: int, limit: int) -> str:
    query = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k not in ("page", "limit")]
    query += [("page", str(page)), ("limit", str(limit))]
    return links.public_url(request, query)


def _activity_response(
    request: Request, session: Session, ctx: ProjectContext, item_id: uuid.UUID | None, limit: int, page: int
) -> dict[str, Any]:
    total, results = queries.activity_page(session, ctx.project_id, item_id=item_id, limit=limit, page=page)
    return {
        "results": results,
        "next": _activity_link(request, page + 1, limit) if page * limit < total else None,
        "previous": _activity_link(request, page - 1, limit) if page > 1 else None,
        "total_count": total,
    }


ACTIVITY_LIMIT = Query(10, ge=1, le=1000, description="Number of items per page")
ACTIVITY_PAGE = Query(1, ge=1, le=1_000_000, description="Page number")


@router.get(
    f"{BASE}/activity/",
    response_model=ActivityPage,
    summary="Activity of every issue",
    description="Requires the `activity_log:read` scope.",
)
def all_activity(
    request: Request,
    limit: int = ACTIVITY_LIMIT,
    page: int = ACTIVITY_PAGE,
    ctx: ProjectContext = Depends(ACTIVITY),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    return _activity_response(request, session, ctx, None, limit, page)


# --- one issue -----------------------------------------------------------------------------------------------------


@router.get(
    f"{BASE}/{{issue_id}}/",
    response_model=IssueOut,
    summary="Retrieve an issue",
    responses={
        308: {"model": IssueRedirect, "description": "The `fingerprint` now belongs to another issue."},
        **_NOT_FOUND_RESPONSE,
    },
)
def retrieve(
    issue_id: str,
    fingerprint: str | None = Query(None, description="Resolve the issue that currently owns this fingerprint."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> Any:
    parsed = parse_uuid(issue_id)
    if fingerprint:
        owner = queries.fingerprint_owner(session, ctx.project_id, fingerprint)
        if owner is not None and owner != parsed:
            return ORJSONResponse({"issue_id": owner}, status_code=308)
    if parsed is None:
        raise errors.not_found(NOT_FOUND)
    return _detail(session, ctx, parsed)


def _update(issue_id: str, body: IssueUpdateIn | None, ctx: ProjectContext, session: Session) -> dict[str, Any]:
    parsed = _issue_id(issue_id)
    fields = {key: getattr(body, key) for key in body.model_fields_set} if body is not None else {}
    service.update_issue(session, ctx.project_id, parsed, fields, ctx.user)
    session.flush()
    return _detail(session, ctx, parsed)


@router.put(f"{BASE}/{{issue_id}}/", response_model=IssueOut, summary="Update an issue", responses=_NOT_FOUND_RESPONSE)
def update(
    issue_id: str,
    body: IssueUpdateIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    return _update(issue_id, body, ctx, session)


@router.patch(
    f"{BASE}/{{issue_id}}/", response_model=IssueOut, summary="Partially update an issue", responses=_NOT_FOUND_RESPONSE
)
def partial_update(
    issue_id: str,
    body: IssueUpdateIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    return _update(issue_id, body, ctx, session)


@router.delete(
    f"{BASE}/{{issue_id}}/",
    status_code=405,
    summary="Not allowed: issues are resolved or suppressed, never deleted",
    responses={405: {"description": "Hard delete of issues is not allowed."}},
)
def destroy(issue_id: str, ctx: ProjectContext = Depends(WRITE)) -> Response:
    raise errors.method_not_allowed("DELETE")


@router.post(
    f"{BASE}/{{issue_id}}/merge/",
    response_model=Success,
    summary="Merge issues into this one",
    responses=_NOT_FOUND_RESPONSE,
)
def merge(
    issue_id: str,
    body: MergeIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, bool]:
    if body is None:
        raise errors.required("ids")
    outcome = service.merge_issues(session, ctx.project_id, _issue_id(issue_id), body.ids, ctx.user)
    return {"success": outcome.result is service.MergeResult.MERGED}


@router.post(
    f"{BASE}/{{issue_id}}/split/",
    response_model=SplitOut,
    summary="Split fingerprints off into new issues",
    responses=_NOT_FOUND_RESPONSE,
)
def split(
    issue_id: str,
    body: SplitIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    requests = [
        service.SplitRequest(fingerprint=f.fingerprint, name=f.name, description=f.description)
        for f in (body.fingerprints if body is not None else [])
    ]
    new_ids = service.split_issue(session, ctx.project_id, _issue_id(issue_id), requests, ctx.user)
    return {"success": True, "new_issue_ids": new_ids}


@router.patch(
    f"{BASE}/{{issue_id}}/assign/",
    response_model=Success,
    summary="Assign to a user or role (null unassigns)",
    responses=_NOT_FOUND_RESPONSE,
)
def assign(
    issue_id: str,
    body: AssignIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, bool]:
    assignee = body.assignee.to_assignee() if body is not None and body.assignee is not None else None
    service.assign_issue(session, ctx.project_id, ctx.project.organization_id, _issue_id(issue_id), assignee, ctx.user)
    return {"success": True}


@router.put(
    f"{BASE}/{{issue_id}}/cohort/",
    response_model=Success,
    summary="Link a person cohort (Faultline has no cohorts: every cohort id is unknown)",
    responses=_NOT_FOUND_RESPONSE,
)
def cohort(
    issue_id: str,
    body: CohortIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, bool]:
    if body is None or body.cohortId is None:
        raise errors.validation_error("Please provide a cohort id")
    if not queries.issue_exists(session, ctx.project_id, _issue_id(issue_id)):
        raise errors.not_found(NOT_FOUND)
    raise errors.not_found("Cohort not found")


@router.get(
    f"{BASE}/{{issue_id}}/activity/",
    response_model=ActivityPage,
    summary="Activity of one issue",
    description="Requires the `activity_log:read` scope.",
    responses=_NOT_FOUND_RESPONSE,
)
def issue_activity(
    request: Request,
    issue_id: str,
    limit: int = ACTIVITY_LIMIT,
    page: int = ACTIVITY_PAGE,
    ctx: ProjectContext = Depends(ACTIVITY),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    parsed = _issue_id(issue_id)
    if not queries.issue_exists(session, ctx.project_id, parsed):
        raise errors.not_found(NOT_FOUND)
    return _activity_response(request, session, ctx, parsed, limit, page)


@router.get(
    f"{BASE}/{{issue_id}}/events/",
    response_model=Page[EventOut],
    summary="Events of an issue, newest first",
    responses=_NOT_FOUND_RESPONSE,
)
def issue_events(
    issue_id: str,
    fingerprint: str | None = Query(None, description="Only events grouped by this fingerprint."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    parsed = _issue_id(issue_id)
    if not queries.issue_exists(session, ctx.project_id, parsed):
        raise errors.not_found(NOT_FOUND)
    if fingerprint is not None and not is_storable(fingerprint):
        return page.envelope(0, [])
    stmt = queries.issue_events_stmt(ctx.project_id, parsed, fingerprint)
    return paginate_query(session, page, stmt, queries.serialize_event)


@router.get(
    f"{BASE}/{{issue_id}}/events/{{event_id}}/",
    response_model=EventOut,
    summary="One event of an issue",
    responses={404: {"description": "No such event in this issue."}},
)
def issue_event(
    issue_id: str,
    event_id: str,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    parsed_issue = _issue_id(issue_id)
    parsed_event = parse_uuid(event_id)
    event = (
        queries.get_issue_event(session, ctx.project_id, parsed_issue, parsed_event)
        if parsed_event is not None
        else None
    )
    if event is None:
        raise errors.not_found("Event not found")
    return queries.serialize_event(event)
