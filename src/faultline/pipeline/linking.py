"""Stage 3b (spec §5.7, §5.9): fingerprints → issues for a whole batch: look up, create, reopen, assign.

Race safety without locks: new issues are inserted first, then their fingerprint rows with ON CONFLICT DO
NOTHING. A fingerprint another worker inserted meanwhile (PostgreSQL makes us wait for its commit) comes back
missing from RETURNING; our freshly inserted issue for it is deleted again and the winner's issue is used — the
same "roll back and use the existing issue" rule cymbal follows, per fingerprint instead of per transaction.

Merges and splits race with digest batches too, see `lookup_and_lock`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import insert_for, utcnow
from faultline.ids import uuid7
from faultline.issues import lifecycle
from faultline.issues.models import ActivityLog, Issue, IssueAssignment, IssueFingerprint, IssueStatus
from faultline.pipeline.parse import truncate_bytes
from faultline.pipeline.seams import Assignee

REOPENABLE = (IssueStatus.RESOLVED, IssueStatus.ARCHIVED, IssueStatus.PENDING_RELEASE)
NAME_LIMIT = 255
_CHUNK = 500
_LOCK_ROUNDS = 10


class UnstableIssueMap(Exception):
    """Fingerprints kept moving between issues while a batch tried to pin them (the worker retries the batch)."""


@dataclass
class IssueRef:
    id: uuid.UUID
    status: str
    name: str | None
    description: str | None
    severity: str | None = None
    created: bool = False
    reopened: bool = False
    previous_status: str | None = None


@dataclass
class NewIssue:
    """What the first event of a not-yet-seen fingerprint contributes to its issue."""

    fingerprint: str
    name: str | None
    description: str | None
    first_seen: dt.datetime
    # Issue-list search columns (`faultline.issues.aggregates.search_columns`).
    exception_types: str | None = None
    exception_values: str | None = None


def issue_texts(properties: Mapping[str, Any], exceptions: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    first = exceptions[0] if exceptions else {}
    name = properties.get("$issue_name") or first.get("type") or "Error"
    description = properties.get("$issue_description") or first.get("value") or ""
    return truncate_bytes(str(name), NAME_LIMIT), truncate_bytes(str(description), NAME_LIMIT)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def lookup(session: Session, project_id: int, fingerprints: Sequence[str]) -> dict[str, IssueRef]:
    fp, issue = IssueFingerprint.__table__, Issue.__table__
    found: dict[str, IssueRef] = {}
    for chunk in _chunks(list(fingerprints)):
        rows = session.execute(
            sa.select(fp.c.fingerprint, issue.c.id, issue.c.status, issue.c.name, issue.c.description, issue.c.severity)
            .join(issue, issue.c.id == fp.c.issue_id)
            .where(fp.c.project_id == project_id, fp.c.fingerprint.in_(chunk))
        )
        for fingerprint, issue_id, status, name, description, severity in rows:
            found[fingerprint] = IssueRef(issue_id, status, name, description, severity)
    return found


def _lock_issues(session: Session, issue_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """FOR KEY SHARE on the issues, in id order; the ids that still exist. KEY SHARE lets other batches update the
    counters of the same issues but makes a merge's or split's FOR UPDATE (and a delete) wait for our commit."""
    table = Issue.__table__
    alive: set[uuid.UUID] = set()
    ordered = sorted(issue_ids)
    for chunk in _chunks(ordered):
        stmt = sa.select(table.c.id).where(table.c.id.in_(list(chunk))).order_by(table.c.id)
        alive.update(row[0] for row in session.execute(stmt.with_for_update(key_share=True)))
    return alive


def lookup_and_lock(session: Session, project_id: int, fingerprints: Sequence[str]) -> dict[str, IssueRef]:
    """The fingerprint → issue map a batch stores its events by, pinned until the batch commits.

    On PostgreSQL a merge can commit between a plain `lookup` and the event insert: the source issue is gone (the
    insert would fail on its foreign key) and its fingerprints belong to the target now; a split moves fingerprints
    to new issues. So the issues found are locked FOR KEY SHARE in id order (merges lock theirs FOR UPDATE in id
    order too, so the two queue up instead of deadlocking) and the map is read again under the locks: a vanished
    issue or a moved fingerprint is followed to the issue it belongs to now, which is locked in turn. SQLite needs
    none of it: the batch holds the database's only write lock from its first read on, nothing commits in between.
    """
    refs = lookup(session, project_id, fingerprints)
    if session.get_bind().dialect.name != "postgresql":
        return refs
    locked: set[uuid.UUID] = set()
    for _ in range(_LOCK_ROUNDS):
        wanted = {ref.id for ref in refs.values()} - locked
        if not wanted:
            return refs
        locked |= _lock_issues(session, list(wanted))
        again = lookup(session, project_id, fingerprints)
        if {k: r.id for k, r in again.items()} == {k: r.id for k, r in refs.items()} and all(
            r.id in locked for r in again.values()
        ):
            return again
        refs = again
    raise UnstableIssueMap(f"fingerprints of project {project_id} kept moving between issues")


def create(session: Session, project_id: int, new: Sequence[NewIssue]) -> dict[str, IssueRef]:
    if not new:
        return {}
    now = utcnow()
    issue_rows = [
        {
            "id": uuid7(),
            "project_id": project_id,
            "created_at": now,
            "status": IssueStatus.ACTIVE,
            "name": n.name,
            "description": n.description,
            "exception_types": n.exception_types,
            "exception_values": n.exception_values,
            "occurrences": 0,
            "users": 0,
        }
        for n in new
    ]
    session.execute(sa.insert(Issue.__table__), issue_rows)
    fp_rows = [
        {
            "id": uuid.uuid4(),
            "project_id": project_id,
            "issue_id": row["id"],
            "fingerprint": n.fingerprint,
            "version": 0,
            "first_seen": n.first_seen,
            "created_at": now,
        }
        for n, row in zip(new, issue_rows, strict=True)
    ]
    table = IssueFingerprint.__table__
    stmt = insert_for(session.get_bind().dialect.name, table).on_conflict_do_nothing(
        index_elements=["project_id", "fingerprint"]
    )
    won = {r[0] for r in session.execute(stmt.returning(table.c.fingerprint), fp_rows)}
    created = {
        n.fingerprint: IssueRef(row["id"], IssueStatus.ACTIVE, n.name, n.description, None, created=True)
        for n, row in zip(new, issue_rows, strict=True)
        if n.fingerprint in won
    }
    lost = [(n, row) for n, row in zip(new, issue_rows, strict=True) if n.fingerprint not in won]
    if lost:
        session.execute(sa.delete(Issue.__table__).where(Issue.__table__.c.id.in_([row["id"] for _, row in lost])))
        created.update(lookup_and_lock(session, project_id, [n.fingerprint for n, _ in lost]))
    return created


def reopen(session: Session, refs: Iterable[IssueRef]) -> list[IssueRef]:
    """Regression: resolved (and legacy archived/pending_release) issues become active again."""
    candidates = {ref.id: ref for ref in refs if ref.status in REOPENABLE and not ref.reopened}
    if not candidates:
        return []
    table = Issue.__table__
    now = utcnow()
    changed = {
        row[0]
        for row in session.execute(
            sa.update(table)
            .where(table.c.id.in_(list(candidates)), table.c.status.in_(REOPENABLE))
            .values(status=IssueStatus.ACTIVE, state_updated_at=now)
            .returning(table.c.id)
        )
    }
    reopened = []
    for issue_id in changed:
        ref = candidates[issue_id]
        ref.previous_status, ref.status, ref.reopened = ref.status, IssueStatus.ACTIVE, True
        reopened.append(ref)
    return reopened


def assign(session: Session, issue_id: uuid.UUID, project_id: int, assignee: Assignee | None) -> dict[str, Any] | None:
    """Insert an assignment unless the issue already has one (never overwritten, spec §5.9); the effective one."""
    table = IssueAssignment.__table__
    if assignee is not None:
        row = {
            "id": uuid7(),
            "issue_id": issue_id,
            "project_id": project_id,
            "user_id": assignee.id if assignee.type == "user" else None,
            "role_id": assignee.id if assignee.type == "role" else None,
            "created_at": utcnow(),
        }
        stmt = insert_for(session.get_bind().dialect.name, table).on_conflict_do_nothing(index_elements=["issue_id"])
        session.execute(stmt, [row])
    current = session.execute(sa.select(table.c.user_id, table.c.role_id).where(table.c.issue_id == issue_id)).first()
    if current is None:
        return None
    if current.user_id is not None:
        return {"type": "user", "id": current.user_id}
    return {"type": "role", "id": str(current.role_id)} if current.role_id is not None else None


def announce(
    session: Session,
    project_id: int,
    ref: IssueRef,
    fingerprint: str,
    first_seen: dt.datetime | None,
    assignee: Mapping[str, Any] | None,
    event_uuid: uuid.UUID,
) -> None:
    """Outbox event for created/reopened issues; reopen also gets an activity entry (the system acted)."""
    props = lifecycle.issue_properties(
        name=ref.name,
        description=ref.description,
        status=ref.status,
        severity=ref.severity,
        first_seen=first_seen,
        fingerprint=fingerprint,
        assignee=assignee,
    )
    if ref.created:
        event = lifecycle.ISSUE_CREATED
    else:
        event = lifecycle.ISSUE_REOPENED
        props["previous_status"] = ref.previous_status
        session.execute(
            sa.insert(ActivityLog.__table__),
            [
                lifecycle.activity_row(
                    project_id=project_id,
                    issue_id=ref.id,
                    activity="updated",
                    user_id=None,
                    name=ref.name,
                    changes=[lifecycle.change("status", ref.previous_status, ref.status)],
                    extra={"trigger": {"type": "regression", "event_uuid": str(event_uuid)}},
                )
            ],
        )
    lifecycle.emit(session, project_id=project_id, event=event, issue_id=ref.id, properties=props)
