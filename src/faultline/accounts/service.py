"""Organizations, users, projects and API keys: the operations the CLI, the API and the UI share."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts import dsn as dsn_keys
from faultline.accounts import secrets as creds
from faultline.accounts.models import (
    MembershipLevel,
    Organization,
    OrganizationMembership,
    PersonalAPIKey,
    Project,
    Role,
    RoleMembership,
    User,
)
from faultline.db import utcnow
from faultline.errors import ValidationFailed

# PostHog scope objects relevant to this product; each exists as `<object>:read` and `<object>:write`.
SCOPE_OBJECTS = (
    "error_tracking",
    "project",
    "organization",
    "user",
    "personal_api_key",
    "activity_log",
)
ALL_SCOPES = ("*", *(f"{obj}:{action}" for obj in SCOPE_OBJECTS for action in ("read", "write")))

# Touching last_used_at on every request would turn every read into a write; once per this interval is enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=10)


MIN_PASSWORD_LENGTH = 8
TOO_SHORT = f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters."
PROJECT_NAME_MAX = 200


class AccountError(ValidationFailed, ValueError):
    """A request that cannot be satisfied (duplicate e-mail, unknown scope…); the message is user-facing."""


def normalize_email(email: str) -> str:
    email = email.strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or not domain or " " in email or len(email) > 254:
        raise AccountError(f"Enter a valid email address (got {email!r}).")
    return f"{local}@{domain.lower()}"


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for scope in scopes:
        scope = scope.strip()
        if not scope:
            continue
        if scope not in ALL_SCOPES:
            raise AccountError(f"Unknown scope {scope!r}; valid scopes: {', '.join(ALL_SCOPES)}")
        if scope not in cleaned:
            cleaned.append(scope)
    if not cleaned:
        raise AccountError("At least one scope is required.")
    return cleaned


def has_scope(scopes: Sequence[str], required: str) -> bool:
    """`*` grants everything; `x:write` implies `x:read` (as in PostHog)."""
    if "*" in scopes or required in scopes:
        return True
    obj, _, action = required.partition(":")
    return action == "read" and f"{obj}:write" in scopes


def create_organization(session: Session, name: str) -> Organization:
    org = Organization(name=name.strip() or "Default")
    session.add(org)
    session.flush()
    return org


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.execute(sa.select(User).where(User.email == normalize_email(email))).scalar_one_or_none()


def create_user(
    session: Session,
    email: str,
    *,
    password: str | None = None,
    first_name: str = "",
    is_staff: bool = False,
    organization: Organization | None = None,
    level: int = MembershipLevel.MEMBER,
) -> User:
    email = normalize_email(email)
    if get_user_by_email(session, email) is not None:
        raise AccountError(f"A user with email {email} already exists.")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(TOO_SHORT, "password")
    user = User(
        email=email,
        first_name=first_name,
        is_staff=is_staff,
        password_hash=creds.hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    if organization is not None:
        add_member(session, organization, user, level)
    return user


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(TOO_SHORT, "password")
    user.password_hash = creds.hash_password(password)
    session.flush()


def password_change_problems(user: User, current: str, new: str) -> dict[str, str]:
    """Why `user` may not replace their password `current` by `new`, by field (every reason at once, so a form can
    show them all); empty when the change is allowed."""
    problems: dict[str, str] = {}
    if not creds.verify_password(current, user.password_hash):
        problems["current_password"] = "This is not your current password."
    if len(new) < MIN_PASSWORD_LENGTH:
        problems["new_password"] = TOO_SHORT
    return problems


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """A signed-in person changing their own password: they must know the current one."""
    problems = password_change_problems(user, current, new)
    if problems:
        attr, message = next(iter(problems.items()))
        raise AccountError(message, attr)
    set_password(session, user, new)


def add_member(session: Session, organization: Organization, user: User, level: int = MembershipLevel.MEMBER) -> None:
    exists = session.execute(
        sa.select(OrganizationMembership.id).where(
            OrganizationMembership.organization_id == organization.id, OrganizationMembership.user_id == user.id
        )
    ).first()
    if exists is None:
        session.add(OrganizationMembership(organization_id=organization.id, user_id=user.id, level=level))
        session.flush()


def create_role(session: Session, organization: Organization, name: str, members: Iterable[User] = ()) -> Role:
    role = Role(organization_id=organization.id, name=name)
    session.add(role)
    session.flush()
    for user in members:
        session.add(RoleMembership(role_id=role.id, user_id=user.id))
    session.flush()
    return role


def create_project(session: Session, organization: Organization | uuid.UUID, name: str) -> Project:
    org_id = organization if isinstance(organization, uuid.UUID) else organization.id
    name = name.strip()
    if not name:
        raise AccountError("Project name must not be empty.")
    project = Project(organization_id=org_id, name=name[:200], api_token=creds.new_project_token())
    session.add(project)
    session.flush()
    dsn_keys.create(session, project.id)  # Sentry SDKs work from the start, like PostHog's token
    return project


def create_api_key(
    session: Session,
    user: User,
    *,
    label: str,
    scopes: Iterable[str],
    scoped_teams: Sequence[int] | None = None,
    scoped_organizations: Sequence[str] | None = None,
) -> tuple[PersonalAPIKey, str]:
    """Returns the row and the only copy of the secret value."""
    value = creds.new_personal_api_key()
    key = PersonalAPIKey(
        user_id=user.id,
        label=label.strip()[:100],
        secure_value=creds.hash_api_key(value),
        mask_value=creds.mask_api_key(value),
        scopes=validate_scopes(scopes),
        scoped_teams=list(scoped_teams) if scoped_teams else None,
        scoped_organizations=list(scoped_organizations) if scoped_organizations else None,
    )
    session.add(key)
    session.flush()
    return key, value


def user_api_keys(user_id: int) -> sa.Select[tuple[PersonalAPIKey]]:
    """A user's personal API keys, newest first (the API list and the account page)."""
    return (
        sa.select(PersonalAPIKey)
        .where(PersonalAPIKey.user_id == user_id)
        .order_by(PersonalAPIKey.created_at.desc(), PersonalAPIKey.id)
    )


def revoke_api_key(session: Session, user_id: int, key_id: uuid.UUID) -> bool:
    """Delete one of the user's own keys; False when it does not exist or belongs to someone else."""
    result = session.execute(
        sa.delete(PersonalAPIKey).where(PersonalAPIKey.id == key_id, PersonalAPIKey.user_id == user_id)
    )
    return bool(result.rowcount)


def update_project(
    session: Session,
    project_id: int,
    *,
    name: str | None = None,
    autocapture_exceptions_opt_in: bool | None = None,
) -> Project:
    """Apply the fields given (None = unchanged); the API's PATCH and the settings page share it."""
    project = session.get(Project, project_id)
    if project is None:
        raise AccountError("Project not found.")
    if name is not None:
        name = name.strip()
        if not name:
            raise AccountError("The project needs a name.", "name")
        if len(name) > PROJECT_NAME_MAX:
            raise AccountError(f"Ensure this field has no more than {PROJECT_NAME_MAX} characters.", "name")
        project.name = name
    if autocapture_exceptions_opt_in is not None:
        project.autocapture_exceptions_opt_in = autocapture_exceptions_opt_in
    session.flush()
    return project


@dataclass(frozen=True)
class KeyOwner:
    key: PersonalAPIKey
    user: User


def authenticate_api_key(session: Session, value: str) -> KeyOwner | None:
    if not value.startswith(creds.PERSONAL_API_KEY_PREFIX) or len(value) > 200:
        return None
    row = session.execute(
        sa.select(PersonalAPIKey, User)
        .join(User, User.id == PersonalAPIKey.user_id)
        .where(PersonalAPIKey.secure_value == creds.hash_api_key(value))
    ).first()
    if row is None or not row.User.is_active:
        return None
    return KeyOwner(key=row.PersonalAPIKey, user=row.User)


def touch_api_key(session: Session, key: PersonalAPIKey) -> bool:
    """Record use at a coarse resolution; returns whether a write is needed (the caller commits)."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    session.execute(sa.update(PersonalAPIKey).where(PersonalAPIKey.id == key.id).values(last_used_at=now))
    return True


def user_organization_ids(session: Session, user_id: int) -> list[uuid.UUID]:
    return list(
        session.execute(
            sa.select(OrganizationMembership.organization_id).where(OrganizationMembership.user_id == user_id)
        ).scalars()
    )


def accessible_projects(user_id: int) -> sa.Select[tuple[Project]]:
    """Projects of every organization the user belongs to, oldest first."""
    member_orgs = sa.select(OrganizationMembership.organization_id).where(OrganizationMembership.user_id == user_id)
    return sa.select(Project).where(Project.organization_id.in_(member_orgs)).order_by(Project.id)


def get_project_for_user(session: Session, project_id: int, user_id: int) -> Project | None:
    return session.execute(accessible_projects(user_id).where(Project.id == project_id)).scalar_one_or_none()


def get_project_by_token(session: Session, token: str) -> Project | None:
    return session.execute(sa.select(Project).where(Project.api_token == token)).scalar_one_or_none()


def list_projects(session: Session) -> list[tuple[Project, Organization]]:
    rows = session.execute(
        sa.select(Project, Organization)
        .join(Organization, Organization.id == Project.organization_id)
        .order_by(Project.id)
    ).all()
    return [(r.Project, r.Organization) for r in rows]


def organization_user(session: Session, organization_id: uuid.UUID, user_id: int) -> User | None:
    """The user if they belong to the organization (assignee validation)."""
    return session.execute(
        sa.select(User)
        .join(OrganizationMembership, OrganizationMembership.user_id == User.id)
        .where(OrganizationMembership.organization_id == organization_id, User.id == user_id)
    ).scalar_one_or_none()


def organization_members(session: Session, organization_id: uuid.UUID) -> list[User]:
    """Active members, for assignee pickers (ordered by name, then e-mail)."""
    return list(
        session.execute(
            sa.select(User)
            .join(OrganizationMembership, OrganizationMembership.user_id == User.id)
            .where(OrganizationMembership.organization_id == organization_id, User.is_active.is_(True))
            .order_by(User.first_name, User.email)
        ).scalars()
    )


def organization_roles(session: Session, organization_id: uuid.UUID) -> list[Role]:
    return list(
        session.execute(sa.select(Role).where(Role.organization_id == organization_id).order_by(Role.name)).scalars()
    )


def organization_role(session: Session, organization_id: uuid.UUID, role_id: uuid.UUID) -> Role | None:
    return session.execute(
        sa.select(Role).where(Role.organization_id == organization_id, Role.id == role_id)
    ).scalar_one_or_none()


def has_users(session: Session) -> bool:
    return session.execute(sa.select(User.id).limit(1)).first() is not None


@dataclass(frozen=True)
class Bootstrap:
    """What the first start created; printed once because the secrets are not stored in clear anywhere."""

    organization: Organization
    project: Project
    user: User
    password: str
    api_key: str
    dsn_public_key: str | None = None


ADMIN_EMAIL = "admin@faultline.local"


def bootstrap(session: Session) -> Bootstrap | None:
    """On a database without users, create an admin (with a `*` API key) and, if missing, an organization and a
    demo project. Returns None when there was nothing to do, so later starts print no secrets."""
    if has_users(session):
        return None
    org = session.execute(sa.select(Organization).order_by(Organization.created_at).limit(1)).scalar_one_or_none()
    if org is None:
        org = create_organization(session, "Default")
    project = session.execute(
        sa.select(Project).where(Project.organization_id == org.id).order_by(Project.id).limit(1)
    ).scalar_one_or_none()
    if project is None:
        project = create_project(session, org, "Demo")
    password = creds.new_password()
    user = create_user(
        session,
        ADMIN_EMAIL,
        password=password,
        first_name="Admin",
        is_staff=True,
        organization=org,
        level=MembershipLevel.OWNER,
    )
    _key, value = create_api_key(session, user, label="bootstrap", scopes=["*"])
    key = dsn_keys.first_enabled(session, project.id)
    return Bootstrap(
        organization=org,
        project=project,
        user=user,
        password=password,
        api_key=value,
        dsn_public_key=key.public_key if key is not None else None,
    )
