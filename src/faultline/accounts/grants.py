"""What a new personal API key may be given.

A key is minted by someone who already holds a credential: a logged-in user (the UI, or the API through the session
cookie), a personal API key with `personal_api_key:write`, or the operator's CLI. The new key can never reach further
than that credential: its scopes, projects and organizations must be a subset of the minting credential's own, and
every project and organization it names must be one the user belongs to. Without this rule a key holding only
`error_tracking:read` + `personal_api_key:write` for one project could mint a `*` key for every project of the user.

Restrictions combine: a key limited to projects [1, 2] and organization A reaches the projects of A among 1 and 2.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from faultline.accounts import service as accounts
from faultline.accounts.models import Project
from faultline.errors import PermissionDenied
from faultline.ids import MAX_SERIAL_ID

NOT_MEMBER_OF_PROJECTS = "You must be a member of all projects that you are scoping the key to."
NOT_MEMBER_OF_ORGANIZATIONS = "You must be a member of all organizations that you are scoping the key to."


@dataclass(frozen=True)
class Reach:
    """The authority of a credential: its scopes and, when limited, the projects and organizations it may touch
    (None = no limit beyond the user's own memberships)."""

    scopes: tuple[str, ...]
    teams: frozenset[int] | None = None
    organizations: frozenset[uuid.UUID] | None = None

    @classmethod
    def everything(cls) -> Reach:
        """A logged-in user or the operator: whatever the user's memberships allow."""
        return cls(scopes=("*",))

    def allows_organization(self, organization_id: uuid.UUID) -> bool:
        return self.organizations is None or organization_id in self.organizations

    def allows_project(self, project_id: int, organization_id: uuid.UUID) -> bool:
        return (self.teams is None or project_id in self.teams) and self.allows_organization(organization_id)


class GrantError(accounts.AccountError):
    """A key that may not be created because the request itself is invalid. `attr` names the offending field."""

    def __init__(self, message: str, attr: str) -> None:
        super().__init__(message, attr)


class GrantForbidden(PermissionDenied, GrantError):
    """A key that may not be created because the minting credential lacks the authority."""


@dataclass(frozen=True)
class Grant:
    """The checked, normalised contents of a new key."""

    scopes: list[str]
    scoped_teams: list[int] | None
    scoped_organizations: list[str] | None


def parse_organization_ids(values: Iterable[object]) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    for value in values:
        try:
            org_id = uuid.UUID(value) if isinstance(value, str) and len(value) <= 64 else None
        except ValueError:
            org_id = None
        if org_id is None:
            raise GrantError("Invalid organization UUID.", "scoped_organizations")
        if org_id not in parsed:
            parsed.append(org_id)
    return parsed


def _member_projects(session: Session, user_id: int, wanted: Sequence[int]) -> set[int]:
    rows = session.execute(accounts.accessible_projects(user_id).where(Project.id.in_(list(wanted))).order_by(None))
    return {project.id for project in rows.scalars()}


def check_new_key(
    session: Session,
    user_id: int,
    granter: Reach,
    *,
    scopes: Sequence[str],
    scoped_teams: Sequence[int] | None,
    scoped_organizations: Sequence[object] | None,
) -> Grant:
    """Validate a new key for `user_id` minted by a credential with `granter`'s authority; raises GrantError."""
    cleaned_scopes = accounts.validate_scopes(scopes)
    for scope in cleaned_scopes:
        held = "*" in granter.scopes if scope == "*" else accounts.has_scope(granter.scopes, scope)
        if not held:
            raise GrantForbidden(
                f"This key cannot grant the scope '{scope}': a new key's scopes must be among the creating key's "
                f"({', '.join(granter.scopes)}).",
                "scopes",
            )

    teams: list[int] | None = None
    if scoped_teams:
        teams = list(dict.fromkeys(scoped_teams))
        if any(not 0 < team <= MAX_SERIAL_ID for team in teams) or _member_projects(session, user_id, teams) != set(
            teams
        ):
            raise GrantError(NOT_MEMBER_OF_PROJECTS, "scoped_teams")
    if granter.teams is not None and (teams is None or not set(teams) <= granter.teams):
        allowed = ", ".join(str(t) for t in sorted(granter.teams))
        raise GrantForbidden(
            f"A key limited to projects [{allowed}] can only create keys limited to some of those projects.",
            "scoped_teams",
        )

    organizations: list[uuid.UUID] | None = None
    if scoped_organizations:
        organizations = parse_organization_ids(scoped_organizations)
        if not set(organizations) <= set(accounts.user_organization_ids(session, user_id)):
            raise GrantError(NOT_MEMBER_OF_ORGANIZATIONS, "scoped_organizations")
    if granter.organizations is not None and (organizations is None or not set(organizations) <= granter.organizations):
        allowed = ", ".join(sorted(str(o) for o in granter.organizations))
        raise GrantForbidden(
            f"A key limited to organizations [{allowed}] can only create keys limited to some of those organizations.",
            "scoped_organizations",
        )
    return Grant(
        scopes=cleaned_scopes,
        scoped_teams=teams,
        scoped_organizations=[str(o) for o in organizations] if organizations is not None else None,
    )
