"""`…/error_tracking/fingerprints/` — the read-only fingerprint → issue map (spec §2.2)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Query, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import queries
from faultline.issues.schemas import FingerprintOut

router = Router(tags=["error tracking: fingerprints"])
BASE = "/error_tracking/fingerprints"

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
NOT_FOUND = "Fingerprint not found"


@router.get(f"{BASE}/", response_model=Page[FingerprintOut], summary="List fingerprints, oldest first")
def list_fingerprints(
    issue_id: str | None = Query(None, description="Only the fingerprints of this issue."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    parsed = None
    if issue_id:
        parsed = parse_uuid(issue_id)
        if parsed is None:
            raise errors.validation_error("issue_id must be a valid UUID")
    return paginate_query(
        session, page, queries.fingerprints_stmt(ctx.project_id, parsed), queries.serialize_fingerprint
    )


@router.get(
    f"{BASE}/resolve/",
    response_model=FingerprintOut,
    summary="The fingerprint record (and so its current issue) for a fingerprint value",
    responses={404: {"description": "Unknown fingerprint."}},
)
def resolve(
    fingerprint: str | None = Query(
        None, description="Fingerprint value, e.g. from an event's $exception_fingerprint."
    ),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    if not fingerprint:
        raise errors.validation_error("fingerprint query parameter is required")
    found = queries.get_fingerprint_by_value(session, ctx.project_id, fingerprint)
    if found is None:
        raise errors.not_found(NOT_FOUND)
    return queries.serialize_fingerprint(found)


@router.get(
    f"{BASE}/{{fingerprint_id}}/",
    response_model=FingerprintOut,
    summary="Retrieve a fingerprint record",
    responses={404: {"description": "Unknown fingerprint id."}},
)
def retrieve(
    fingerprint_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    parsed = parse_uuid(fingerprint_id)
    if parsed is None:
        raise errors.validation_error("Invalid fingerprint id")
    found = queries.get_fingerprint(session, ctx.project_id, parsed)
    if found is None:
        raise errors.not_found(NOT_FOUND)
    return queries.serialize_fingerprint(found)


@router.delete(
    f"{BASE}/{{fingerprint_id}}/",
    status_code=405,
    summary="Not allowed: fingerprints move between issues by merge and split",
    responses={405: {"description": "Hard delete of fingerprints is not allowed."}},
)
def destroy(fingerprint_id: str, ctx: ProjectContext = Depends(WRITE)) -> Response:
    raise errors.method_not_allowed("DELETE")
