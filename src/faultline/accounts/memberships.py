"""Who belongs to an organization, and who may change that (the CLI and the organization page share these rules).

PostHog's levels: member (1), admin (8), owner (15). Admins and owners manage members; nobody grants a level above
their own or changes someone ranked above them; the last admin or owner cannot be removed or demoted, so an
organization is never left without someone who can manage it. The operator's CLI (`actor_level=None`) is exempt from
the rank rules but not from the last-manager rule. Users are added by e-mail and must already exist: Faultline sends
no invitations (`faultline createuser` makes accounts).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts import service as accounts
from faultline.accounts.models import MembershipLevel, Organization, OrganizationMembership, User

ROLES: dict[str, int] = {
    "member": MembershipLevel.MEMBER,
    "admin": MembershipLevel.ADMIN,
    "owner": MembershipLevel.OWNER,
}
ROLE_NAMES = {level: name for name, level in ROLES.items()}


class MembershipError(accounts.AccountError):
    """A membership change that is not allowed; the message is user-facing."""


@dataclass(frozen=True)
class Member:
    user: User
    level: int
    joined_at: dt.datetime

    @property
    def role(self) -> str:
        return role_name(self.level)


def role_name(level: int) -> str:
    return ROLE_NAMES.get(level, str(level))


def parse_role(name: str) -> int:
    level = ROLES.get(name.strip().lower())
    if level is None:
        raise MembershipError(f"Unknown role {name!r}; choose one of: {', '.join(ROLES)}.")
    return level


def members(session: Session, organization_id: uuid.UUID) -> list[Member]:
    rows = session.execute(
        sa.select(User, OrganizationMembership.level, OrganizationMembership.created_at)
        .join(OrganizationMembership, OrganizationMembership.user_id == User.id)
        .where(OrganizationMembership.organization_id == organization_id)
        .order_by(OrganizationMembership.level.desc(), User.email)
    ).all()
    return [Member(user=row[0], level=row[1], joined_at=row[2]) for row in rows]


def level_of(session: Session, organization_id: uuid.UUID, user_id: int) -> int | None:
    return session.execute(
        sa.select(OrganizationMembership.level).where(
            OrganizationMembership.organization_id == organization_id, OrganizationMembership.user_id == user_id
        )
    ).scalar_one_or_none()


def user_organizations(session: Session, user_id: int) -> list[tuple[Organization, int]]:
    """The user's organizations with their level, oldest first."""
    rows = session.execute(
        sa.select(Organization, OrganizationMembership.level)
        .join(OrganizationMembership, OrganizationMembership.organization_id == Organization.id)
        .where(OrganizationMembership.user_id == user_id)
        .order_by(Organization.created_at, Organization.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def can_manage(level: int | None, *, is_staff: bool = False) -> bool:
    return is_staff or (level is not None and level >= MembershipLevel.ADMIN)


def _check_actor(actor_level: int | None, *, grants: int | None = None, target: int | None = None) -> None:
    if actor_level is None:  # the operator's CLI
        return
    if actor_level < MembershipLevel.ADMIN:
        raise MembershipError("Only organization admins and owners can manage members.")
    if grants is not None and grants > actor_level:
        raise MembershipError(f"You cannot grant the {role_name(grants)} role: it is above your own.")
    if target is not None and target > actor_level:
        raise MembershipError(f"You cannot change a member whose role ({role_name(target)}) is above your own.")


def check_actor(actor_level: int | None, *, grants: int | None = None) -> None:
    """Refuse unless the actor may manage members and grant `grants` (invitations use the same rule as adding)."""
    _check_actor(actor_level, grants=grants)


def _managers_left(session: Session, organization_id: uuid.UUID, excluding_user: int) -> int:
    return session.execute(
        sa.select(sa.func.count()).where(
            OrganizationMembership.organization_id == organization_id,
            OrganizationMembership.level >= MembershipLevel.ADMIN,
            OrganizationMembership.user_id != excluding_user,
        )
    ).scalar_one()


def _lock_memberships(session: Session, organization_id: uuid.UUID) -> None:
    """Serialise changes to one organization's members (PostgreSQL row locks; SQLite has one writer anyway), so two
    admins demoting each other at the same moment cannot both succeed and leave nobody in charge."""
    session.execute(
        sa.select(OrganizationMembership.id)
        .where(OrganizationMembership.organization_id == organization_id)
        .with_for_update()
    ).all()


def add(session: Session, organization_id: uuid.UUID, email: str, level: int, *, actor_level: int | None) -> Member:
    _check_actor(actor_level, grants=level)
    user = accounts.get_user_by_email(session, email)
    if user is None:
        raise MembershipError(f"No user with e-mail {accounts.normalize_email(email)}; create the account first.")
    existing = level_of(session, organization_id, user.id)
    if existing is not None:
        raise MembershipError(f"{user.email} is already a member ({role_name(existing)}).")
    membership = OrganizationMembership(organization_id=organization_id, user_id=user.id, level=level)
    session.add(membership)
    session.flush()
    return Member(user=user, level=level, joined_at=membership.created_at)


def set_level(
    session: Session, organization_id: uuid.UUID, user_id: int, level: int, *, actor_level: int | None
) -> None:
    _lock_memberships(session, organization_id)
    current = level_of(session, organization_id, user_id)
    if current is None:
        raise MembershipError("This user is not a member of the organization.")
    _check_actor(actor_level, grants=level, target=current)
    if (
        current >= MembershipLevel.ADMIN
        and level < MembershipLevel.ADMIN
        and not _managers_left(session, organization_id, user_id)
    ):
        raise MembershipError("The organization needs at least one admin or owner; promote someone else first.")
    session.execute(
        sa.update(OrganizationMembership)
        .where(OrganizationMembership.organization_id == organization_id, OrganizationMembership.user_id == user_id)
        .values(level=level)
    )


def remove(session: Session, organization_id: uuid.UUID, user_id: int, *, actor_level: int | None) -> None:
    """Membership ends at once: the user's sessions and API keys stop reaching the organization's projects (access
    is computed from memberships on every request)."""
    _lock_memberships(session, organization_id)
    current = level_of(session, organization_id, user_id)
    if current is None:
        raise MembershipError("This user is not a member of the organization.")
    _check_actor(actor_level, target=current)
    if current >= MembershipLevel.ADMIN and not _managers_left(session, organization_id, user_id):
        raise MembershipError("The organization needs at least one admin or owner; promote someone else first.")
    session.execute(
        sa.delete(OrganizationMembership).where(
            OrganizationMembership.organization_id == organization_id, OrganizationMembership.user_id == user_id
        )
    )
