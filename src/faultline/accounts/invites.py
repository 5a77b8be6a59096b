"""Invitations: a one-time link that creates an account and joins it to an organization with a role.

Admins and owners invite an e-mail address that has no account yet (an existing user is simply added, see
`memberships.add`); nobody invites with a role above their own. The link is shown once to the inviter (Faultline
sends no e-mail); only its SHA-256 is stored. It works once, for `INVITE_DAYS` days; accepting sets the new
account's password, and the person then logs in as usual.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts import memberships
from faultline.accounts import service as accounts
from faultline.accounts.models import Organization, OrganizationInvite
from faultline.db import utcnow

INVITE_DAYS = 7


class InviteError(accounts.AccountError):
    """The invitation cannot be made or used; the message is user-facing."""


@dataclass(frozen=True)
class Invite:
    token: str
    email: str
    role: str
    expires_at: dt.datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    session: Session, organization_id: uuid.UUID, email: str, level: int, *, actor_level: int | None, created_by: int
) -> Invite:
    memberships.check_actor(actor_level, grants=level)
    email = accounts.normalize_email(email)
    if accounts.get_user_by_email(session, email) is not None:
        raise InviteError(f"{email} already has an account: add them as a member instead.")
    token = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=INVITE_DAYS)
    session.add(
        OrganizationInvite(
            organization_id=organization_id,
            email=email,
            level=level,
            token_hash=_hash(token),
            created_by=created_by,
            expires_at=expires,
        )
    )
    session.flush()
    return Invite(token=token, email=email, role=memberships.role_name(level), expires_at=expires)


def find(session: Session, token: str) -> tuple[OrganizationInvite, Organization] | None:
    """The open invitation behind a link (not used, not expired), with its organization."""
    if not token or len(token) > 100:
        return None
    row = session.execute(
        sa.select(OrganizationInvite, Organization)
        .join(Organization, Organization.id == OrganizationInvite.organization_id)
        .where(OrganizationInvite.token_hash == _hash(token))
    ).one_or_none()
    if row is None:
        return None
    invite, org = row
    if invite.accepted_at is not None or invite.expires_at <= utcnow():
        return None
    return invite, org


def accept(session: Session, token: str, *, password: str, first_name: str = "") -> str:
    """Create the account and its membership; the e-mail to log in with. Works once: the link is marked used in the
    same statement that checks it is still open, so two tabs cannot both create the account."""
    found = find(session, token)
    if found is None:
        raise InviteError("This invitation link is not valid any more (used, expired or never issued).")
    invite, org = found
    claimed = session.execute(
        sa.update(OrganizationInvite)
        .where(OrganizationInvite.id == invite.id, OrganizationInvite.accepted_at.is_(None))
        .values(accepted_at=utcnow())
    ).rowcount
    if claimed != 1:
        raise InviteError("This invitation link has just been used.")
    user = accounts.create_user(
        session, invite.email, password=password, first_name=first_name[:150], organization=org, level=invite.level
    )
    return user.email
