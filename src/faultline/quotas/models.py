"""Fixed-window counters of the digest's limits, one row per issue / project.

A row is read and rewritten inside the digest's batch transaction, after the issue rows were locked (PostgreSQL) or
under SQLite's single writer, so two workers never both admit the last event of a window.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, UTCDateTime


class IssueRateWindow(Base):
    """How many events of an issue the current per-issue window stored (`per_issue_rate_limit_*`)."""

    __tablename__ = "issue_rate_windows"

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stored: Mapped[int] = mapped_column(sa.Integer, default=0)


class NewIssueWindow(Base):
    """How many issues a project created in the new-issue limiter's current hour."""

    __tablename__ = "new_issue_windows"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created: Mapped[int] = mapped_column(sa.Integer, default=0)
