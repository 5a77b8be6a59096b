"""Tenancy: organizations own projects; users reach projects through organization membership.

PostHog calls a project a "team" or "environment"; its integer id is what appears in every API URL and its public
`phc_…` token is what SDKs send. Personal API keys (`phx_…`) are stored only as a SHA-256 digest.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    projects: Mapped[list[Project]] = relationship(back_populates="organization", passive_deletes=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True, default=uuid7)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(150), default="")
    last_name: Mapped[str] = mapped_column(sa.String(150), default="")
    # argon2id hash; null for users who cannot log in to the UI (API-only service accounts).
    password_hash: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # Instance administrators may create organizations and see every project.
    is_staff: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    distinct_id: Mapped[str] = mapped_column(sa.String(200), default=lambda: str(uuid7()))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # IANA name the UI shows exact times in ("Europe/Berlin"); null = UTC. Stored data stays UTC.
    time_zone: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class MembershipLevel:
    MEMBER = 1
    ADMIN = 8
    OWNER = 15


class OrganizationMembership(Base):
    __tablename__ = "organization_memberships"
    __table_args__ = (sa.UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(sa.SmallInteger, default=MembershipLevel.MEMBER)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganizationInvite(Base):
    """A one-time link that lets someone without an account join an organization with a role.

    Only the SHA-256 of the link's token is stored (like session tokens): a database leak gives no working links.
    """

    __tablename__ = "organization_invites"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254))
    level: Mapped[int] = mapped_column(sa.SmallInteger, default=MembershipLevel.MEMBER)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Role(Base):
    """A named group of users; issues and rules can be assigned to a role instead of a person."""

    __tablename__ = "roles"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoleMembership(Base):
    __tablename__ = "role_memberships"
    __table_args__ = (sa.UniqueConstraint("role_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    role_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    # Public capture token (`phc_…`); it is safe to embed in web pages, so it grants nothing but ingestion.
    api_token: Mapped[str] = mapped_column(sa.String(100), unique=True)
    # Mirrors PostHog's team.autocapture_exceptions_opt_in; served to SDKs through remote config.
    autocapture_exceptions_opt_in: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="projects")


class PersonalAPIKey(Base):
    __tablename__ = "personal_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    # SHA-256 of the full key: keys are 256-bit random, so a fast hash is enough and lookups stay O(1).
    secure_value: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mask_value: Mapped[str] = mapped_column(sa.String(20))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Optional restriction to some organizations / projects (PostHog's scoped_organizations / scoped_teams).
    scoped_organizations: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    scoped_teams: Mapped[list[int] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
