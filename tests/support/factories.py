"""Build issues with fingerprints, events and the aggregates the digest worker maintains — for tests that need
data the ingestion pipeline would normally create.

The aggregates (occurrences, users, first/last seen, hourly/daily volume, issue_users) are computed here in plain
Python from the events given, independently of `faultline.issues.aggregates`, so tests can compare the two.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.ids import uuid7
from faultline.issues.models import Event, Issue, IssueFingerprint, IssueUser, IssueVolumeDaily, IssueVolumeHourly

BASE_TIME = dt.datetime(2026, 3, 2, 12, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Ev:
    """One event: when, by whom, and (optionally) under which of the issue's fingerprints."""

    at: dt.datetime
    distinct_id: str | None = "user-1"
    fingerprint: str | None = None


@dataclass
class Built:
    id: uuid.UUID
    fingerprints: list[str]
    event_uuids: list[uuid.UUID] = field(default_factory=list)


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _day(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def create_issue(
    session: Session,
    project_id: int,
    *,
    name: str = "TypeError",
    description: str | None = "Cannot read properties of undefined",
    status: str = "active",
    severity: str | None = None,
    fingerprints: Sequence[str] | None = None,
    events: Sequence[Ev] = (),
    exception_types: Sequence[str] | None = None,
    exception_values: Sequence[str] | None = None,
    created_at: dt.datetime | None = None,
    fingerprint_first_seen: dt.datetime | None = None,
) -> Built:
    issue_id = uuid7()
    fps = list(fingerprints) if fingerprints else [f"fp-{issue_id.hex[-16:]}"]
    types = list(exception_types) if exception_types is not None else [name]
    values = list(exception_values) if exception_values is not None else ([description] if description else [])
    created = created_at or (min(e.at for e in events) if events else BASE_TIME)
    stamps = [e.at for e in events]
    users = {e.distinct_id for e in events if e.distinct_id is not None}
    session.execute(
        sa.insert(Issue.__table__),
        [
            {
                "id": issue_id,
                "project_id": project_id,
                "created_at": created,
                "state_updated_at": None,
                "status": status,
                "severity": severity,
                "name": name,
                "description": description,
                "first_seen": min(stamps) if stamps else (fingerprint_first_seen or created),
                "last_seen": max(stamps) if stamps else None,
                "occurrences": len(events),
                "users": len(users),
                "exception_types": "\n".join(dict.fromkeys(types)) or None,
                "exception_values": "\n".join(dict.fromkeys(values)) or None,
            }
        ],
    )
    fp_rows = []
    for fp in fps:
        own = [e.at for e in events if (e.fingerprint or fps[0]) == fp]
        fp_rows.append(
            {
                "id": uuid.uuid4(),
                "project_id": project_id,
                "issue_id": issue_id,
                "fingerprint": fp,
                "version": 0,
                "first_seen": min(own) if own else (fingerprint_first_seen or created),
                "created_at": created,
            }
        )
    session.execute(sa.insert(IssueFingerprint.__table__), fp_rows)
    built = Built(id=issue_id, fingerprints=fps)
    if events:
        event_rows = []
        for event in events:
            event_uuid = uuid7()
            built.event_uuids.append(event_uuid)
            fingerprint = event.fingerprint or fps[0]
            event_rows.append(
                {
                    "uuid": event_uuid,
                    "project_id": project_id,
                    "issue_id": issue_id,
                    "fingerprint": fingerprint,
                    "timestamp": event.at,
                    "received_at": event.at,
                    "distinct_id": event.distinct_id,
                    "lib": "posthog-python",
                    "lib_version": "7.0.0",
                    "level": "error",
                    "properties": _properties(types, values, fingerprint, event.distinct_id),
                }
            )
        session.execute(sa.insert(Event.__table__), event_rows)
        hourly = Counter(_hour(e.at) for e in events)
        daily = Counter(_day(e.at) for e in events)
        session.execute(
            sa.insert(IssueVolumeHourly.__table__),
            [{"issue_id": issue_id, "bucket": b, "count": n} for b, n in hourly.items()],
        )
        session.execute(
            sa.insert(IssueVolumeDaily.__table__),
            [{"issue_id": issue_id, "bucket": b, "count": n} for b, n in daily.items()],
        )
        if users:
            session.execute(
                sa.insert(IssueUser.__table__), [{"issue_id": issue_id, "distinct_id": u} for u in sorted(users)]
            )
    return built


def _properties(types: list[str], values: list[str], fingerprint: str, distinct_id: str | None) -> dict[str, Any]:
    return {
        "$exception_list": [
            {"type": t, "value": v, "mechanism": {"handled": False, "synthetic": False}}
            for t, v in zip(types, values + [""] * (len(types) - len(values)), strict=False)
        ],
        "$exception_types": types,
        "$exception_values": values,
        "$exception_fingerprint": fingerprint,
        "distinct_id": distinct_id,
        "$lib": "posthog-python",
    }


def aggregate_snapshot(session: Session, issue_id: uuid.UUID) -> dict[str, Any]:
    """Everything the aggregates say about one issue, for equality checks."""
    issue = session.execute(
        sa.select(Issue.occurrences, Issue.users, Issue.first_seen, Issue.last_seen).where(Issue.id == issue_id)
    ).one()
    hourly = dict(
        session.execute(
            sa.select(IssueVolumeHourly.bucket, IssueVolumeHourly.count).where(IssueVolumeHourly.issue_id == issue_id)
        ).all()
    )
    daily = dict(
        session.execute(
            sa.select(IssueVolumeDaily.bucket, IssueVolumeDaily.count).where(IssueVolumeDaily.issue_id == issue_id)
        ).all()
    )
    users = set(session.execute(sa.select(IssueUser.distinct_id).where(IssueUser.issue_id == issue_id)).scalars())
    return {
        "occurrences": issue.occurrences,
        "users": issue.users,
        "first_seen": issue.first_seen,
        "last_seen": issue.last_seen,
        "hourly": hourly,
        "daily": daily,
        "user_ids": users,
    }
