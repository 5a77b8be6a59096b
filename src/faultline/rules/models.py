"""Suppression, grouping, assignment, bypass and severity rules: ordered property-filter groups the digest evaluates.

`disabled_data` non-null means the rule is disabled (the worker writes it when evaluating the rule fails);
`order_key` ascending is evaluation order and deliberately not unique (PostHog does not enforce it either).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7

MATCH_ALL_FILTERS: dict[str, Any] = {"type": "AND", "values": []}


class _RuleColumns:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=lambda: dict(MATCH_ALL_FILTERS))
    order_key: Mapped[int] = mapped_column(sa.Integer, default=0)
    disabled_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SuppressionRule(_RuleColumns, Base):
    __tablename__ = "suppression_rules"

    # Fraction of matching events dropped (deterministic per event uuid).
    sampling_rate: Mapped[float] = mapped_column(sa.Float, default=1.0)


class GroupingRule(_RuleColumns, Base):
    __tablename__ = "grouping_rules"

    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    role_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("roles.id", ondelete="SET NULL"), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class AssignmentRule(_RuleColumns, Base):
    __tablename__ = "assignment_rules"

    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    role_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=True)


class BypassRule(_RuleColumns, Base):
    """Events matching a bypass rule are exempt from the per-issue rate limit (PostHog's ErrorTrackingBypassRule)."""

    __tablename__ = "bypass_rules"


class SeverityRule(_RuleColumns, Base):
    """The first matching severity rule sets a new issue's `severity` (PostHog's ErrorTrackingSeverityRule)."""

    __tablename__ = "severity_rules"

    severity: Mapped[str] = mapped_column(sa.String(20))


class ConfigRevision(Base):
    """A per-project counter bumped in the same transaction as every change to rules, autocapture controls or
    error-tracking settings.

    Compiled rules (digest workers) and remote config (SDK endpoints) are cached in memory per process; in the
    scale-out topology the write that changes them usually happens in another process, so each cache compares
    its revision with this row (one primary-key read) instead of trusting a TTL.
    """

    __tablename__ = "config_revisions"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
