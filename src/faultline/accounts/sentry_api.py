"""The account part of Sentry's management API (`/api/0/…`) that sentry-cli needs before anything else.

`sentry-cli info` calls `GET /api/0/` and calls the server working when it answers the token's user and scopes;
the other routes let sentry-cli (and people) find the slugs to put in `SENTRY_ORG` / `SENTRY_PROJECT`. The token is
a Faultline personal API key (`Authorization: Bearer phx_…`); scopes are Faultline's, listed as they are.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from sqlalchemy.orm import Session

from faultline.accounts import slugs
from faultline.accounts.access import Principal, current_principal, require_scope
from faultline.accounts.models import Organization, Project
from faultline.http.deps import READ_SESSION
from faultline.http.routing import Router

router = Router(tags=["sentry-cli"])
READ_PROJECTS = require_scope("project:read")


def organization_json(organization: Organization) -> dict[str, Any]:
    return {
        "id": str(organization.id),
        "slug": slugs.slugify(organization.name),
        "name": organization.name,
        "dateCreated": organization.created_at,
        "isEarlyAdopter": False,
        "require2FA": False,
        "requireEmailVerification": False,
        "features": [],
    }


def project_json(project: Project, organization: Organization) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "slug": slugs.slugify(project.name),
        "name": project.name,
        "platform": None,
        "dateCreated": project.created_at,
        "organization": {"id": str(organization.id), "slug": slugs.slugify(organization.name)},
        "team": None,
    }


@router.get("/api/0/", summary="sentry-cli: who the token belongs to and its scopes")
def auth_info(principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    user = principal.user
    return {
        "version": "0",
        "auth": {"scopes": list(principal.scopes)},
        "user": {
            "id": str(user.id),
            "email": user.email,
            "username": user.email,
            "name": f"{user.first_name} {user.last_name}".strip() or user.email,
        },
    }


@router.get("/api/0/organizations/", summary="sentry-cli: the caller's organizations with their slugs")
def list_organizations(
    principal: Principal = Depends(current_principal), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    return [organization_json(org) for org in slugs.member_organizations(session, principal)]


@router.get("/api/0/organizations/{org}/", summary="sentry-cli: one organization by slug or id")
def get_organization(
    org: str, principal: Principal = Depends(current_principal), session: Session = READ_SESSION
) -> dict[str, Any]:
    return organization_json(slugs.resolve_organization(session, principal, org))


@router.get("/api/0/organizations/{org}/projects/", summary="sentry-cli: an organization's projects with slugs")
def list_projects(
    org: str, principal: Principal = Depends(READ_PROJECTS), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    organization = slugs.resolve_organization(session, principal, org)
    return [project_json(p, organization) for p in slugs.organization_projects(session, principal, organization)]


@router.get("/api/0/projects/{org}/{project}/", summary="sentry-cli: one project by slug or id")
def get_project(
    org: str, project: str, principal: Principal = Depends(READ_PROJECTS), session: Session = READ_SESSION
) -> dict[str, Any]:
    organization = slugs.resolve_organization(session, principal, org)
    return project_json(slugs.resolve_project(session, principal, organization, project), organization)
