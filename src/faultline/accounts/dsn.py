"""Sentry DSN keys: a project's public keys for Sentry SDKs (`http(s)://<public_key>@<host>/<project_id>`).

A project may have several keys (one per app or environment, so one can be switched off without touching the
others); each can be disabled, which makes ingestion answer 403 for it. The public key is not a secret — browser
SDKs embed it in pages — so it is stored in clear and grants nothing but sending events to its project.
Creating a project creates one key (`accounts.service.create_project`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from faultline.accounts.models import Project
from faultline.db import Base, UTCDateTime, utcnow
from faultline.errors import NotFound, ValidationFailed
from faultline.ids import uuid7

LABEL_MAX = 100
PUBLIC_KEY_LENGTH = 32  # hex characters, as Sentry's own keys


class DsnKey(Base):
    __tablename__ = "dsn_keys"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(LABEL_MAX), default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DsnKeyInvalid(ValidationFailed):
    pass


class DsnKeyNotFound(NotFound):
    pass


def new_public_key() -> str:
    return secrets.token_hex(PUBLIC_KEY_LENGTH // 2)


def dsn(public_url: str, public_key: str, project_id: int) -> str:
    """The DSN an SDK is configured with: the server's public URL with the key as its user name and the project id
    as its path (a path prefix in the public URL is kept: SDKs put `api/<id>/envelope/` after it)."""
    parts = urlsplit(public_url.rstrip("/"))
    return f"{parts.scheme}://{public_key}@{parts.netloc}{parts.path}/{project_id}"


def _label(value: str | None) -> str:
    label = (value or "").strip()
    if len(label) > LABEL_MAX:
        raise DsnKeyInvalid(f"Ensure this field has no more than {LABEL_MAX} characters.", "label")
    return label


def create(session: Session, project_id: int, *, label: str | None = "Default", enabled: bool = True) -> DsnKey:
    key = DsnKey(project_id=project_id, public_key=new_public_key(), label=_label(label), enabled=enabled)
    session.add(key)
    session.flush()
    return key


def list_stmt(project_id: int) -> sa.Select[tuple[DsnKey]]:
    return sa.select(DsnKey).where(DsnKey.project_id == project_id).order_by(DsnKey.created_at, DsnKey.id)


def get(session: Session, project_id: int, key_id: uuid.UUID) -> DsnKey:
    key = session.execute(
        sa.select(DsnKey).where(DsnKey.project_id == project_id, DsnKey.id == key_id)
    ).scalar_one_or_none()
    if key is None:
        raise DsnKeyNotFound("Not found.")
    return key


def update(
    session: Session, project_id: int, key_id: uuid.UUID, *, label: str | None = None, enabled: bool | None = None
) -> DsnKey:
    key = get(session, project_id, key_id)
    if label is not None:
        key.label = _label(label)
    if enabled is not None:
        key.enabled = enabled
    session.flush()
    return key


def delete(session: Session, project_id: int, key_id: uuid.UUID) -> None:
    session.delete(get(session, project_id, key_id))
    session.flush()


def first_enabled(session: Session, project_id: int) -> DsnKey | None:
    """The key the UI and the first-start banner show first."""
    return session.execute(list_stmt(project_id).where(DsnKey.enabled.is_(True)).limit(1)).scalar_one_or_none()


def lookup(session: Session, public_key: str) -> tuple[int, bool] | None:
    """(project id, enabled) of a public key, or None: what Sentry ingestion needs, in one indexed query."""
    row = session.execute(
        sa.select(DsnKey.project_id, DsnKey.enabled)
        .join(Project, Project.id == DsnKey.project_id)
        .where(DsnKey.public_key == public_key)
    ).first()
    return (int(row[0]), bool(row[1])) if row is not None else None
