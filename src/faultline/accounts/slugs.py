"""Sentry-style organization and project slugs, for clients that address things by slug (sentry-cli's
`SENTRY_ORG` / `SENTRY_PROJECT`, `/api/0/organizations/{org}/…`, `/api/0/projects/{org}/{project}/…`).

Faultline has no slug columns: a slug is derived from the name (`Acme Corp` → `acme-corp`, as Sentry derives its
default slugs), and the id always works too (the organization's UUID, the project's integer id), so a rename or two
projects whose names slug alike never lock anyone out. Lookups only ever see the caller's own organizations (and
the API key's organization/project limits), so a foreign slug answers like a missing one.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.access import Principal
from faultline.accounts.models import Organization, OrganizationMembership, Project
from faultline.errors import Conflict, NotFound, PermissionDenied
from faultline.ids import parse_serial_id, parse_uuid

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """Lower-case ASCII letters and digits joined by single dashes; `default` when nothing is left."""
    return _NOT_SLUG.sub("-", name.lower()).strip("-")[:50] or "default"


def member_organizations(session: Session, principal: Principal) -> list[Organization]:
    """The caller's organizations the key may use, oldest first."""
    member_of = sa.select(OrganizationMembership.organization_id).where(
        OrganizationMembership.user_id == principal.user.id
    )
    rows = session.scalars(
        sa.select(Organization).where(Organization.id.in_(member_of)).order_by(Organization.created_at, Organization.id)
    )
    return [org for org in rows if principal.allows_organization(org.id)]


def resolve_organization(session: Session, principal: Principal, slug: str) -> Organization:
    """By UUID or derived slug; unknown → NotFound, a slug two of the caller's organizations share → Conflict."""
    organizations = member_organizations(session, principal)
    wanted = parse_uuid(slug)
    if wanted is not None:
        for org in organizations:
            if org.id == wanted:
                return org
        raise NotFound("Organization not found.")
    matches = [org for org in organizations if slugify(org.name) == slug.lower()]
    if not matches:
        raise NotFound(f"Organization {slug[:100]!r} not found (use its slug or id; `GET /api/0/organizations/`).")
    if len(matches) > 1:
        raise Conflict(f"Several of your organizations have the slug {slug[:100]!r}; use the organization id instead.")
    return matches[0]


def organization_projects(session: Session, principal: Principal, organization: Organization) -> list[Project]:
    rows = session.scalars(
        sa.select(Project).where(Project.organization_id == organization.id).order_by(Project.id)
    ).all()
    if principal.scoped_teams is not None:
        rows = [project for project in rows if project.id in principal.scoped_teams]
    return list(rows)


def resolve_project(session: Session, principal: Principal, organization: Organization, slug: str) -> Project:
    """By integer id or derived slug, inside `organization`; a project the key may not use → PermissionDenied."""
    candidates = session.scalars(
        sa.select(Project).where(Project.organization_id == organization.id).order_by(Project.id)
    ).all()
    wanted = parse_serial_id(slug)
    matches = (
        [p for p in candidates if p.id == wanted]
        if wanted is not None
        else [p for p in candidates if slugify(p.name) == slug.lower()]
    )
    if not matches:
        raise NotFound(f"Project {slug[:100]!r} not found in this organization (use its slug or id).")
    if len(matches) > 1:
        raise Conflict(f"Several projects have the slug {slug[:100]!r}; use the project id instead.")
    project = matches[0]
    if principal.scoped_teams is not None and project.id not in principal.scoped_teams:
        raise PermissionDenied("API key does not have access to the requested project.")
    return project
