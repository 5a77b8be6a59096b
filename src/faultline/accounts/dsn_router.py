"""`/api/projects/{project_id}/dsn_keys/` — a project's Sentry DSN keys (list, create, rename, disable, delete).

Shapes follow the other PostHog-style endpoints (LimitOffset pages, `{type, code, detail, attr}` errors, scoped
personal API keys); the `dsn` field is the full DSN to paste into `sentry_sdk.init(dsn=...)`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from faultline.accounts import dsn as service
from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.ids import parse_uuid

router = Router(tags=["sentry: dsn keys"])
BASE = "/dsn_keys"
READ = project_access("project:read")
WRITE = project_access("project:write")


class DsnKeyOut(BaseModel):
    id: uuid.UUID
    label: str
    public_key: str
    enabled: bool
    dsn: str
    created_at: dt.datetime


class DsnKeyCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str = Field("", max_length=service.LABEL_MAX)
    enabled: bool = True


class DsnKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str | None = Field(None, max_length=service.LABEL_MAX)
    enabled: bool | None = None


def serialize(key: service.DsnKey, public_url: str) -> dict[str, Any]:
    return {
        "id": key.id,
        "label": key.label,
        "public_key": key.public_key,
        "enabled": key.enabled,
        "dsn": service.dsn(public_url, key.public_key, key.project_id),
        "created_at": key.created_at,
    }


def _public_url(request: Request) -> str:
    return str(request.app.state.settings.public_url)


def _key_id(raw: str) -> uuid.UUID:
    parsed = parse_uuid(raw)
    if parsed is None:
        raise errors.not_found()
    return parsed


@router.get(f"{BASE}/", response_model=Page[DsnKeyOut], summary="List the project's Sentry DSN keys")
def list_keys(
    request: Request,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    url = _public_url(request)
    return paginate_query(session, page, service.list_stmt(ctx.project_id), lambda k: serialize(k, url))


@router.post(f"{BASE}/", response_model=DsnKeyOut, status_code=201, summary="Create a Sentry DSN key")
def create_key(
    request: Request,
    body: DsnKeyCreate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    body = body or DsnKeyCreate()
    key = service.create(session, ctx.project_id, label=body.label, enabled=body.enabled)
    return serialize(key, _public_url(request))


@router.get(f"{BASE}/{{dsn_key_id}}/", response_model=DsnKeyOut, summary="Retrieve a Sentry DSN key")
def retrieve_key(
    dsn_key_id: str, request: Request, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    return serialize(service.get(session, ctx.project_id, _key_id(dsn_key_id)), _public_url(request))


@router.patch(f"{BASE}/{{dsn_key_id}}/", response_model=DsnKeyOut, summary="Rename, enable or disable a DSN key")
def update_key(
    dsn_key_id: str,
    body: DsnKeyUpdate,
    request: Request,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    key = service.update(session, ctx.project_id, _key_id(dsn_key_id), label=body.label, enabled=body.enabled)
    return serialize(key, _public_url(request))


@router.delete(f"{BASE}/{{dsn_key_id}}/", status_code=204, summary="Delete a Sentry DSN key")
def delete_key(dsn_key_id: str, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION) -> Response:
    service.delete(session, ctx.project_id, _key_id(dsn_key_id))
    return Response(status_code=204)
