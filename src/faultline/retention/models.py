"""Stored event bytes per project, kept exact by the transactions that insert and delete events."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base


class ProjectStorage(Base):
    """`SUM(events.size_bytes)` and `COUNT(*)` of a project's events, without scanning them: the digest adds what it
    stores and retention subtracts what it deletes, each in its own transaction."""

    __tablename__ = "project_storage"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    event_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    events: Mapped[int] = mapped_column(sa.BigInteger, default=0)
