"""Stored event bytes per project and per issue: what the byte budget, `error_tracking/storage/` and the UI read.

Project totals are the `project_storage` row the digest and retention keep in step with the events they insert
and delete (in the same transactions), so reading them never scans events; per-issue bytes are a SUM over one
issue's rows through the (issue_id, timestamp) index, asked for one page of issues at a time.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import check_only, insert_for, table_of
from faultline.issues.models import Event, Issue
from faultline.retention.models import ProjectStorage


def add(session: Session, project_id: int, event_bytes: int, events: int) -> None:
    """Count stored (positive) or deleted (negative) events in the project's usage row."""
    if not events and not event_bytes:
        return
    table = table_of(ProjectStorage)
    stmt = insert_for(session.get_bind().dialect.name, table).values(
        project_id=project_id, event_bytes=max(0, event_bytes), events=max(0, events)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id"],
        set_={"event_bytes": table.c.event_bytes + event_bytes, "events": table.c.events + events},
    )
    session.execute(stmt)


def total_bytes(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.coalesce(sa.func.sum(ProjectStorage.event_bytes), 0))).scalar_one())


def projects_by_size(session: Session) -> list[tuple[int, int, int]]:
    """(project_id, event_bytes, events), largest first."""
    rows = session.execute(
        sa.select(ProjectStorage.project_id, ProjectStorage.event_bytes, ProjectStorage.events).order_by(
            ProjectStorage.event_bytes.desc()
        )
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


def project_usage(session: Session, project_id: int) -> tuple[int, int]:
    """(event_bytes, events) of one project."""
    row = session.execute(
        sa.select(ProjectStorage.event_bytes, ProjectStorage.events).where(ProjectStorage.project_id == project_id)
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def issue_bytes(session: Session, project_id: int, issue_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(stored bytes, stored events) per issue of `issue_ids` (issues without stored events are absent)."""
    if not issue_ids:
        return {}
    rows = session.execute(
        sa.select(Event.issue_id, sa.func.sum(Event.size_bytes), sa.func.count())
        .where(check_only(Event.project_id) == project_id, Event.issue_id.in_(list(issue_ids)))
        .group_by(Event.issue_id)
    )
    return {r[0]: (int(r[1] or 0), int(r[2])) for r in rows}


def largest_issues(session: Session, project_id: int, limit: int) -> list[tuple[uuid.UUID, str | None, int, int, int]]:
    """(issue id, name, stored bytes, stored events, occurrences) of the project's issues holding the most bytes."""
    stored = (
        sa.select(Event.issue_id, sa.func.sum(Event.size_bytes).label("bytes"), sa.func.count().label("events"))
        .where(Event.project_id == project_id)
        .group_by(Event.issue_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(Issue.id, Issue.name, stored.c.bytes, stored.c.events, Issue.occurrences)
        .join(stored, stored.c.issue_id == Issue.id)
        .order_by(stored.c.bytes.desc(), Issue.id)
        .limit(limit)
    )
    return [(r[0], r[1], int(r[2] or 0), int(r[3]), int(r[4])) for r in rows]


@dataclass(frozen=True)
class Disk:
    total: int
    used: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.total if self.total else 0.0


def disk_usage(path: Path) -> Disk | None:
    """The disk holding `path` (the data directory), or None when it cannot be read."""
    try:
        found = shutil.disk_usage(path)
    except OSError:
        return None
    return Disk(found.total, found.used)
