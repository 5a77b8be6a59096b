"""Moving fingerprints between issues — the one implementation merges and re-symbolication share.

A fingerprint row is re-pointed to another issue with `version + 1` (so caches keyed on the version notice), and
the events follow their fingerprint. Callers lock what they need first (merges lock the issues, the digest pins
fingerprints in `pipeline.linking.lookup_and_lock`) and decide what happens to an issue left without any
fingerprint (`issues.service.fold_if_empty`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import insert_for, utcnow
from faultline.issues.models import Event, IssueFingerprint


def repoint(
    session: Session,
    project_id: int,
    target_id: uuid.UUID,
    *,
    issue_ids: Sequence[uuid.UUID] | None = None,
    fingerprints: Sequence[str] | None = None,
) -> None:
    """Re-point the fingerprint rows of `issue_ids` (or the named `fingerprints`) to the target, version + 1."""
    table = IssueFingerprint.__table__
    stmt = sa.update(table).where(table.c.project_id == project_id)
    if issue_ids is not None:
        stmt = stmt.where(table.c.issue_id.in_(list(issue_ids)))
    if fingerprints is not None:
        stmt = stmt.where(table.c.fingerprint.in_(list(fingerprints)))
    session.execute(stmt.values(issue_id=target_id, version=table.c.version + 1))


def move_events(
    session: Session,
    project_id: int,
    target_id: uuid.UUID,
    *,
    issue_ids: Sequence[uuid.UUID],
    fingerprints: Sequence[str] | None = None,
) -> None:
    """Move the events of `issue_ids` (only those with one of `fingerprints`, when given) to the target."""
    table = Event.__table__
    stmt = sa.update(table).where(table.c.project_id == project_id, table.c.issue_id.in_(list(issue_ids)))
    if fingerprints is not None:
        stmt = stmt.where(table.c.fingerprint.in_(list(fingerprints)))
    session.execute(stmt.values(issue_id=target_id))


def attach(session: Session, project_id: int, issue_id: uuid.UUID, fingerprint: str, first_seen: dt.datetime) -> None:
    """Give the issue one more fingerprint, unless another issue has it already (then nothing happens)."""
    table = IssueFingerprint.__table__
    stmt = insert_for(session.get_bind().dialect.name, table).on_conflict_do_nothing(
        index_elements=["project_id", "fingerprint"]
    )
    row = {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "issue_id": issue_id,
        "fingerprint": fingerprint,
        "version": 0,
        "first_seen": first_seen,
        "created_at": utcnow(),
    }
    session.execute(stmt, [row])


def remaining(session: Session, issue_id: uuid.UUID) -> int:
    table = IssueFingerprint.__table__
    count = session.scalar(sa.select(sa.func.count()).select_from(table).where(table.c.issue_id == issue_id))
    return int(count or 0)
