"""Releases: what was deployed, so symbol sets and events can say which build they belong to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (sa.UniqueConstraint("project_id", "hash_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    # Client-chosen stable key (posthog-cli: SHA-512 hex of project name + version); defaults to the id.
    hash_id: Mapped[str] = mapped_column(sa.String(128))
    version: Mapped[str] = mapped_column(sa.Text)
    # PostHog's field is called "project" (the release's project name, not our project row).
    project_name: Mapped[str] = mapped_column("project", sa.Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
