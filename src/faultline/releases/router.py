"""`…/error_tracking/releases/` — PostHog's release endpoints (spec §2.5), as the posthog-cli calls them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.releases import service
from faultline.releases.schemas import ReleaseIn, ReleaseOut, Scalar

router = Router(tags=["error tracking: releases"])
BASE = "/error_tracking/releases"

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
TEXT_MAX = 2_000


def _text(value: Scalar | None, attr: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) > TEXT_MAX:
        raise errors.validation_error(f"Ensure this field has no more than {TEXT_MAX} characters.", attr, "max_length")
    return text


def _release_id(raw: str) -> uuid.UUID:
    parsed = parse_uuid(raw)
    if parsed is None:
        raise errors.not_found()
    return parsed


@router.get(f"{BASE}/", response_model=Page[ReleaseOut], summary="List releases, newest first")
def list_releases(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, service.list_stmt(ctx.project_id), service.serialize)


@router.post(f"{BASE}/", response_model=ReleaseOut, status_code=201, summary="Create a release")
def create_release(
    body: ReleaseIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    version = _text(body.version, "version")
    project = _text(body.project, "project")
    if not version:
        raise errors.validation_error("Version is required")
    if not project:
        raise errors.validation_error("Project is required")
    release = service.create(
        session,
        ctx.project_id,
        version=version,
        project=project,
        hash_id=service.validated_hash_id(body.hash_id),
        metadata=body.metadata,
    )
    return service.serialize(release)


@router.get(
    f"{BASE}/hash/{{hash_id}}/",
    response_model=ReleaseOut,
    summary="Retrieve a release by its hash id",
    responses={404: {"description": "No release with that hash id."}},
)
def by_hash(hash_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> Any:
    release = service.get_by_hash(session, ctx.project_id, hash_id)
    if release is None:
        raise errors.not_found()
    return service.serialize(release)


@router.get(
    f"{BASE}/{{release_id}}/",
    response_model=ReleaseOut,
    summary="Retrieve a release",
    responses={404: {"description": "No such release."}},
)
def retrieve(release_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> Any:
    release = service.get(session, ctx.project_id, _release_id(release_id))
    if release is None:
        raise errors.not_found()
    return service.serialize(release)


def _apply_update(release_id: str, body: ReleaseIn | None, ctx: ProjectContext, session: Session) -> Response:
    body = body or ReleaseIn()
    release = service.update(
        session,
        ctx.project_id,
        _release_id(release_id),
        metadata=body.metadata,
        hash_id=service.validated_hash_id(body.hash_id),
        version=_text(body.version, "version"),
        project=_text(body.project, "project"),
    )
    if release is None:
        raise errors.not_found()
    return Response(status_code=204)


UPDATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "Updated (only non-empty fields overwrite)."},
    404: {"description": "No such release."},
}


@router.put(f"{BASE}/{{release_id}}/", status_code=204, summary="Update a release", responses=UPDATE_RESPONSES)
def update(
    release_id: str,
    body: ReleaseIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    return _apply_update(release_id, body, ctx, session)


@router.patch(
    f"{BASE}/{{release_id}}/", status_code=204, summary="Partially update a release", responses=UPDATE_RESPONSES
)
def partial_update(
    release_id: str,
    body: ReleaseIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    return _apply_update(release_id, body, ctx, session)


@router.delete(
    f"{BASE}/{{release_id}}/",
    status_code=204,
    summary="Delete a release (and its symbol sets)",
    responses={404: {"description": "No such release."}},
)
def destroy(release_id: str, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION) -> Response:
    if not service.delete(session, ctx.project_id, _release_id(release_id)):
        raise errors.not_found()
    return Response(status_code=204)
