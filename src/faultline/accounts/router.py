"""Account endpoints: the caller, their projects and their personal API keys.

Every endpoint honours the caller's key limits (`scoped_teams`, `scoped_organizations`), and a key can only mint
keys within its own limits (`faultline.accounts.grants`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from faultline.accounts import grants
from faultline.accounts import service as accounts
from faultline.accounts.access import Principal, ProjectContext, project_access, require_scope
from faultline.accounts.models import MembershipLevel, Organization, OrganizationMembership, PersonalAPIKey, Project
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.errors import FieldError
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router

router = Router(tags=["accounts"])


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str


class ProjectOut(BaseModel):
    id: int
    name: str
    organization: uuid.UUID
    api_token: str
    created_at: dt.datetime
    autocapture_exceptions_opt_in: bool


class MeOut(BaseModel):
    id: int
    uuid: uuid.UUID
    email: str
    first_name: str
    last_name: str
    distinct_id: str
    is_staff: bool
    organizations: list[OrganizationOut]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(..., max_length=200)
    organization: uuid.UUID | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise FieldError("This field may not be blank.", code="blank")
        return value.strip()


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, max_length=200)
    autocapture_exceptions_opt_in: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise FieldError("This field may not be blank.", code="blank")
        return value.strip() if value is not None else None


class APIKeyOut(BaseModel):
    id: uuid.UUID
    label: str
    mask_value: str
    scopes: list[str]
    scoped_teams: list[int] | None
    scoped_organizations: list[str] | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class APIKeyCreated(APIKeyOut):
    value: str = Field(..., description="The key itself. Shown only in this response.")


class APIKeyCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str = Field(..., max_length=100)
    scopes: list[str] = Field(..., description=f"Any of: {', '.join(accounts.ALL_SCOPES)}")
    scoped_teams: list[int] | None = Field(
        None, description="Limit the key to these projects (a subset of the creating key's projects, if limited)."
    )
    scoped_organizations: list[str] | None = Field(
        None,
        description="Limit the key to these organization ids (a subset of the creating key's, if limited).",
    )

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        try:
            return accounts.validate_scopes(value)
        except accounts.AccountError as exc:
            raise FieldError(str(exc), code="invalid_scopes") from None


def project_out(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "organization": project.organization_id,
        "api_token": project.api_token,
        "created_at": project.created_at,
        "autocapture_exceptions_opt_in": project.autocapture_exceptions_opt_in,
    }


def key_out(key: PersonalAPIKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "label": key.label,
        "mask_value": key.mask_value,
        "scopes": key.scopes,
        "scoped_teams": key.scoped_teams,
        "scoped_organizations": key.scoped_organizations,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
    }


@router.get("/api/users/@me/", response_model=MeOut, summary="The authenticated user")
def me(
    principal: Principal = Depends(require_scope("user:read")),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    user = principal.user
    orgs = [
        org
        for org in session.execute(
            sa.select(Organization)
            .join(OrganizationMembership, OrganizationMembership.organization_id == Organization.id)
            .where(OrganizationMembership.user_id == user.id)
            .order_by(Organization.created_at)
        ).scalars()
        if principal.allows_organization(org.id)
    ]
    return {
        "id": user.id,
        "uuid": user.uuid,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "distinct_id": user.distinct_id,
        "is_staff": user.is_staff,
        "organizations": [{"id": o.id, "name": o.name} for o in orgs],
    }


@router.get("/api/projects/", response_model=Page[ProjectOut], summary="List the projects you can access")
def list_projects(
    principal: Principal = Depends(require_scope("project:read")),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    stmt = accounts.accessible_projects(principal.user.id)
    if principal.scoped_teams is not None:
        stmt = stmt.where(Project.id.in_(principal.scoped_teams))
    if principal.scoped_organizations is not None:
        stmt = stmt.where(Project.organization_id.in_(principal.scoped_organizations))
    return paginate_query(session, page, stmt, project_out)


@router.post("/api/projects/", response_model=ProjectOut, status_code=201, summary="Create a project")
def create_project(
    body: ProjectCreate,
    principal: Principal = Depends(require_scope("project:write")),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    if principal.scoped_teams is not None:
        raise errors.permission_denied("API keys limited to projects cannot create projects.")
    memberships = {
        m.organization_id: m.level
        for m in session.execute(
            sa.select(OrganizationMembership)
            .where(OrganizationMembership.user_id == principal.user.id)
            .order_by(OrganizationMembership.created_at)
        ).scalars()
        if principal.allows_organization(m.organization_id)
    }
    org_id = body.organization or next(iter(memberships), None)
    if body.organization is not None and not principal.allows_organization(body.organization):
        raise errors.permission_denied("API key does not have access to the requested organization.")
    if org_id is None or org_id not in memberships:
        raise errors.validation_error("Organization not found or not yours.", "organization")
    if memberships[org_id] < MembershipLevel.ADMIN and not principal.user.is_staff:
        raise errors.permission_denied("Only organization admins can create projects.")
    return project_out(accounts.create_project(session, org_id, body.name))


def _project_detail(ctx: ProjectContext = Depends(project_access("project:read"))) -> dict[str, Any]:
    return project_out(ctx.project)


for _prefix in ("/api/projects/{project_id}/", "/api/environments/{project_id}/"):
    router.add_api_route(
        _prefix,
        _project_detail,
        methods=["GET"],
        response_model=ProjectOut,
        summary="Retrieve a project",
        include_in_schema=_prefix.startswith("/api/environments"),
        name=f"project_detail_{_prefix.split('/')[2]}",
    )


def _update_project(
    body: ProjectUpdate,
    ctx: ProjectContext = Depends(project_access("project:write")),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    project = accounts.update_project(
        session, ctx.project.id, name=body.name, autocapture_exceptions_opt_in=body.autocapture_exceptions_opt_in
    )
    return project_out(project)


for _prefix in ("/api/projects/{project_id}/", "/api/environments/{project_id}/"):
    router.add_api_route(
        _prefix,
        _update_project,
        methods=["PATCH"],
        response_model=ProjectOut,
        summary="Update a project",
        include_in_schema=_prefix.startswith("/api/environments"),
        name=f"project_update_{_prefix.split('/')[2]}",
    )


@router.get("/api/personal_api_keys/", response_model=Page[APIKeyOut], summary="List your personal API keys")
def list_keys(
    principal: Principal = Depends(require_scope("personal_api_key:read")),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, accounts.user_api_keys(principal.user.id), key_out)


@router.post(
    "/api/personal_api_keys/", response_model=APIKeyCreated, status_code=201, summary="Create a personal API key"
)
def create_key(
    body: APIKeyCreate,
    principal: Principal = Depends(require_scope("personal_api_key:write")),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    grant = grants.check_new_key(
        session,
        principal.user.id,
        principal.reach,
        scopes=body.scopes,
        scoped_teams=body.scoped_teams,
        scoped_organizations=body.scoped_organizations,
    )
    key, value = accounts.create_api_key(
        session,
        principal.user,
        label=body.label,
        scopes=grant.scopes,
        scoped_teams=grant.scoped_teams,
        scoped_organizations=grant.scoped_organizations,
    )
    return {**key_out(key), "value": value}


@router.delete("/api/personal_api_keys/{key_id}/", status_code=204, summary="Revoke a personal API key")
def delete_key(
    key_id: str,
    principal: Principal = Depends(require_scope("personal_api_key:write")),
    session: Session = WRITE_SESSION,
) -> Response:
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise errors.not_found() from None
    if not accounts.revoke_api_key(session, principal.user.id, parsed):
        raise errors.not_found()
    return Response(status_code=204)
