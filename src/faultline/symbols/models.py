"""Symbol sets (uploaded or fetched source maps, ProGuard and Hermes maps) and the resolved stack-frame cache."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7


class SymbolSet(Base):
    __tablename__ = "symbol_sets"
    __table_args__ = (sa.UniqueConstraint("project_id", "ref"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    # Chunk id for uploaded sets, script URL for sets fetched from the web (truncated to 2048 bytes).
    ref: Mapped[str] = mapped_column(sa.Text)
    # Blob key; NULL marks a "negative" row whose failure_reason explains why resolution failed.
    storage_ptr: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # SHA-512 hex of the stored bytes; set only once an upload is confirmed.
    content_hash: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    release_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("releases.id", ondelete="CASCADE"), nullable=True, index=True
    )
    last_used: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StackFrame(Base):
    """A raw frame's resolution result, keyed by the SHA-512 of the raw frame (and `part` for inlined expansions)."""

    __tablename__ = "stack_frames"
    __table_args__ = (sa.UniqueConstraint("project_id", "raw_id", "part"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    raw_id: Mapped[str] = mapped_column(sa.String(128))
    part: Mapped[int] = mapped_column(sa.Integer, default=0)
    symbol_set_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("symbol_sets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    contents: Mapped[dict[str, Any]] = mapped_column(JSONType)
    resolved: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentryChunk(Base):
    """A chunk sentry-cli uploaded and no bundle has used yet (the bytes are a blob, `sentrychunks/<org>/<sha1>`).

    The rows are what bounds the blobs: pending bytes per organization are capped (FAULTLINE_SENTRY_PENDING_BYTES),
    rows older than FAULTLINE_SENTRY_CHUNK_TTL are swept with their blobs on the organization's next upload, and an
    assembled bundle deletes its own."""

    __tablename__ = "sentry_chunks"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    checksum: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    size: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
