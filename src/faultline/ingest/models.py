"""Ingestion diagnostics: the answer to "I sent events and nothing shows up"."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow


class IngestCounter(Base):
    """Per project, per UTC day, per outcome (accepted, dropped_invalid, dropped_suppressed, too_large, …)."""

    __tablename__ = "ingest_counters"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class IngestError(Base):
    """Recent ingestion failures; trimmed to the newest few per project. project_id is null for unknown tokens."""

    __tablename__ = "ingest_errors"
    __table_args__ = (sa.Index("ix_ingest_errors_project_created", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int | None] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stage: Mapped[str] = mapped_column(sa.String(32))  # "capture" (HTTP) or "digest" (worker)
    code: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
