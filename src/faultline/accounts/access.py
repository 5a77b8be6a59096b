"""Who is calling, with which scopes, on which project.

Order of checks, as the API promises: no/invalid credentials → 401; credentials without the required scope → 403;
a project (or object) outside the caller's organizations → 404, so foreign ids are indistinguishable from missing
ones. The UI's session login plugs in through `request.state.session_user_id` (set by the web layer); API keys
always win when both are present.

A key may be limited to some projects (`scoped_teams`) and/or organizations (`scoped_organizations`); the principal
carries both, and a project outside either answers 403 (the project exists and is the user's, the key may not use
it), as PostHog does. An empty list means no limit, as in PostHog; a list of nothing valid reaches nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Path, Request

from faultline.accounts import service as accounts
from faultline.accounts.grants import Reach
from faultline.accounts.models import PersonalAPIKey, Project, User
from faultline.db import utcnow
from faultline.http import errors
from faultline.http.deps import get_db
from faultline.ids import MAX_SERIAL_ID, parse_serial_id, parse_uuid

INVALID_KEY = "Personal API key found in request Authorization header is invalid."


@dataclass(frozen=True)
class Principal:
    user: User
    scopes: tuple[str, ...]
    key: PersonalAPIKey | None = None
    via: str = "api_key"
    scoped_teams: tuple[int, ...] | None = None
    scoped_organizations: tuple[uuid.UUID, ...] | None = None

    def has_scope(self, scope: str) -> bool:
        return accounts.has_scope(self.scopes, scope)

    @property
    def reach(self) -> Reach:
        return Reach(
            scopes=self.scopes,
            teams=frozenset(self.scoped_teams) if self.scoped_teams is not None else None,
            organizations=frozenset(self.scoped_organizations) if self.scoped_organizations is not None else None,
        )

    def allows_organization(self, organization_id: uuid.UUID) -> bool:
        return self.scoped_organizations is None or organization_id in self.scoped_organizations


def _key_organizations(values: list[str] | None) -> tuple[uuid.UUID, ...] | None:
    if not values:
        return None
    parsed = (parse_uuid(value) for value in values)
    return tuple(org_id for org_id in parsed if org_id is not None)


def _key_teams(values: list[int] | None) -> tuple[int, ...] | None:
    """Ids that cannot be projects (rows stored before limits were validated) are dropped: they match nothing, and
    binding one outside 32 bits would fail a PostgreSQL query."""
    if not values:
        return None
    return tuple(
        value
        for value in values
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SERIAL_ID
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _load_principal(request: Request) -> Principal:
    db = get_db(request)
    token = _bearer(request)
    if token is None and request.headers.get("authorization"):
        raise errors.authentication_failed("Authorization header must use the Bearer scheme.")
    if token is not None:
        with db.read() as session:
            owner = accounts.authenticate_api_key(session, token)
        if owner is None:
            raise errors.authentication_failed(INVALID_KEY)
        if owner.key.last_used_at is None or utcnow() - owner.key.last_used_at > accounts.LAST_USED_RESOLUTION:
            with db.write() as session:
                accounts.touch_api_key(session, owner.key)
        return Principal(
            user=owner.user,
            scopes=tuple(owner.key.scopes),
            key=owner.key,
            scoped_teams=_key_teams(owner.key.scoped_teams),
            scoped_organizations=_key_organizations(owner.key.scoped_organizations),
        )
    session_user_id = getattr(request.state, "session_user_id", None)
    if session_user_id is not None:
        with db.read() as session:
            user = session.get(User, session_user_id)
        if user is not None and user.is_active:
            return Principal(user=user, scopes=("*",), via="session")
    raise errors.not_authenticated()


def current_principal(request: Request) -> Principal:
    """Cached per request so several dependencies do not re-authenticate."""
    cached = getattr(request.state, "principal", None)
    if cached is None:
        cached = _load_principal(request)
        request.state.principal = cached
    return cached


def require_scope(scope: str) -> Callable[..., Principal]:
    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has_scope(scope):
            raise errors.permission_denied(f"API key missing required scope '{scope}'")
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


@dataclass(frozen=True)
class ProjectContext:
    """The project named in the URL, already checked against the caller's organizations."""

    project: Project
    principal: Principal

    @property
    def project_id(self) -> int:
        return self.project.id

    @property
    def user(self) -> User:
        return self.principal.user


def load_project(request: Request, project_id: int, principal: Principal) -> ProjectContext:
    with get_db(request).read() as session:
        project = accounts.get_project_for_user(session, project_id, principal.user.id)
    if project is None:
        raise errors.not_found()
    if principal.scoped_teams is not None and project.id not in principal.scoped_teams:
        raise errors.permission_denied("API key does not have access to the requested project.")
    if not principal.allows_organization(project.organization_id):
        raise errors.permission_denied("API key does not have access to the requested organization.")
    return project_context(project, principal)


def project_context(project: Project, principal: Principal) -> ProjectContext:
    return ProjectContext(project=project, principal=principal)


def project_access(scope: str) -> Callable[..., ProjectContext]:
    """Dependency for `/api/environments/{project_id}/…` routes: authenticated, scoped, tenant-checked."""
    scope_dependency = require_scope(scope)

    def dependency(
        request: Request,
        project_id: str = Path(..., description="Project (environment) id; see `GET /api/projects/`."),
        principal: Principal = Depends(scope_dependency),
    ) -> ProjectContext:
        parsed = parse_serial_id(project_id)
        if parsed is None:
            raise errors.not_found()
        return load_project(request, parsed, principal)

    dependency.__name__ = f"project_{scope.replace(':', '_')}"
    return dependency
