"""The digest's limits: the per-issue rate limit (`per_issue_rate_limit_*` of `error_tracking/settings/`) and the
per-project new-issue limiter (`FAULTLINE_NEW_ISSUES_PER_HOUR`).

Both are fixed windows aligned to the epoch (a window of 5 minutes starts at :00, :05, …), counted in one row per
issue / project inside the digest's batch transaction. Why not a token bucket here as at capture: the count must
be exact across every digest worker, and the batch transaction already serialises writers per issue (issue rows
are locked by linking on PostgreSQL; SQLite has one writer), so a row that says "stored 37 of 50 this window" is
both exact and cheap — one read and one upsert per batch, not per event.

Over the per-issue limit the event's body is not stored, but the issue's counters still advance (the caller
passes the event to the aggregates): the numbers a user sees never lie, only the samples thin out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.autocapture.models import ErrorTrackingSettings
from faultline.db import table_of, upsert
from faultline.quotas.models import IssueRateWindow, NewIssueWindow

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# PostHog stores the bucket size as nullable; a limit without one counts per minute.
DEFAULT_BUCKET_MINUTES = 1
NEW_ISSUE_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class WindowLimit:
    """At most `value` per window of `window`."""

    value: int
    window: dt.timedelta

    def start(self, now: dt.datetime) -> dt.datetime:
        return window_start(now, self.window)


def window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """The start of the epoch-aligned window containing `now`."""
    elapsed = now - EPOCH
    return EPOCH + (elapsed // window) * window


def per_issue_limit(session: Session, project_id: int) -> WindowLimit | None:
    """The project's per-issue limit, None when unlimited (no settings row or a null value)."""
    row = session.execute(
        sa.select(
            ErrorTrackingSettings.per_issue_rate_limit_value,
            ErrorTrackingSettings.per_issue_rate_limit_bucket_size_minutes,
        ).where(ErrorTrackingSettings.project_id == project_id)
    ).first()
    if row is None or row[0] is None:
        return None
    minutes = row[1] if row[1] and row[1] > 0 else DEFAULT_BUCKET_MINUTES
    return WindowLimit(max(0, int(row[0])), dt.timedelta(minutes=minutes))


def admit_issue_events(
    session: Session, limit: WindowLimit, wanted: Mapping[uuid.UUID, int], now: dt.datetime
) -> dict[uuid.UUID, int]:
    """How many of each issue's `wanted` events the current window may still store; records them as stored."""
    if not wanted:
        return {}
    start = limit.start(now)
    table = table_of(IssueRateWindow)
    current = {
        row.issue_id: row.stored
        for row in session.execute(
            sa.select(table.c.issue_id, table.c.stored).where(
                table.c.issue_id.in_(list(wanted)), table.c.window_start == start
            )
        )
    }
    admitted: dict[uuid.UUID, int] = {}
    rows = []
    for issue_id, count in sorted(wanted.items(), key=lambda item: str(item[0])):
        used = current.get(issue_id, 0)
        admitted[issue_id] = max(0, min(count, limit.value - used))
        rows.append({"issue_id": issue_id, "window_start": start, "stored": used + admitted[issue_id]})
    upsert(session, table, rows, index_elements=["issue_id"], update=["window_start", "stored"])
    return admitted


def admit_new_issues(session: Session, project_id: int, wanted: int, per_hour: int, now: dt.datetime) -> int:
    """How many of `wanted` new issues the project may still create this hour; records them as created."""
    if wanted <= 0:
        return 0
    start = window_start(now, NEW_ISSUE_WINDOW)
    table = table_of(NewIssueWindow)
    used = session.execute(
        sa.select(table.c.created).where(table.c.project_id == project_id, table.c.window_start == start)
    ).scalar()
    used = used or 0
    admitted = max(0, min(wanted, per_hour - used))
    upsert(
        session,
        table,
        [{"project_id": project_id, "window_start": start, "created": used + admitted}],
        index_elements=["project_id"],
        update=["window_start", "created"],
    )
    return admitted


def project_limit(session: Session, project_id: int) -> WindowLimit | None:
    """The project's rate limit (`project_rate_limit_*`), None when unlimited."""
    row = session.execute(
        sa.select(
            ErrorTrackingSettings.project_rate_limit_value, ErrorTrackingSettings.project_rate_limit_bucket_size_minutes
        ).where(ErrorTrackingSettings.project_id == project_id)
    ).first()
    if row is None or row[0] is None:
        return None
    minutes = row[1] if row[1] and row[1] > 0 else DEFAULT_BUCKET_MINUTES
    return WindowLimit(max(0, int(row[0])), dt.timedelta(minutes=minutes))
