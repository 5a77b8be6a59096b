"""Exception-autocapture controls and error-tracking settings that SDKs receive through remote config."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7


class AutocaptureControls(Base):
    __tablename__ = "autocapture_controls"
    __table_args__ = (sa.UniqueConstraint("project_id", "library"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    library: Mapped[str] = mapped_column(sa.String(24), default="web")
    match_type: Mapped[str] = mapped_column(sa.String(8), default="all")
    sample_rate: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(3, 2), default=decimal.Decimal("1.00"))
    linked_feature_flag: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    event_triggers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    url_triggers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    url_blocklist: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ErrorTrackingSettings(Base):
    """Per-project rate limits (PostHog's ErrorTrackingSettings); null = unlimited."""

    __tablename__ = "error_tracking_settings"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    project_rate_limit_value: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    project_rate_limit_bucket_size_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    per_issue_rate_limit_value: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    per_issue_rate_limit_bucket_size_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
