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

from faultline.db import insert_for, table_of, utcnow, where_key_in
from faultline.ids import uuid7
from faultline.issues import lifecycle, tags
from faultline.issues.models import ActivityLog, Issue, IssueAssignment, IssueFingerprint, IssueStatus, IssueTag
from faultline.pipeline.parse import truncate_bytes
from faultline.protocol.seams import Assignee

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
    # Set when the event that reopened the issue came from a release the issue had never been seen in.
    regressed_in: str | None = None


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
    exception_functions: str | None = None
    exception_sources: str | None = None
    culprit: str | None = None


def issue_texts(properties: Mapping[str, Any], exceptions: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    first = exceptions[0] if exceptions else {}
    name = properties.get("$issue_name") or first.get("type") or "Error"
    description = properties.get("$issue_description") or first.get("value") or ""
    return truncate_bytes(str(name), NAME_LIMIT), truncate_bytes(str(description), NAME_LIMIT)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def lookup(session: Session, project_id: int, fingerprints: Sequence[str]) -> dict[str, IssueRef]:
    """Runs for every batch (twice on PostgreSQL): probes the unique (project_id, fingerprint) index per fingerprint
    (`where_key_in`), so a project with many fingerprints and no statistics yet is never scanned whole."""
    fp, issue = table_of(IssueFingerprint), table_of(Issue)
    dialect = session.get_bind().dialect.name
    found: dict[str, IssueRef] = {}
    for chunk in _chunks(list(fingerprints)):
        stmt = (
            sa.select(fp.c.fingerprint, issue.c.id, issue.c.status, issue.c.name, issue.c.description, issue.c.severity)
            .join(issue, issue.c.id == fp.c.issue_id)
            .where(fp.c.project_id == project_id)
        )
        rows = session.execute(where_key_in(dialect, stmt, fp.c.fingerprint, chunk))
        for fingerprint, issue_id, status, name, description, severity in rows:
            found[fingerprint] = IssueRef(issue_id, status, name, description, severity)
    return found


def _lock_issues(session: Session, issue_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """FOR KEY SHARE on the issues, in id order; the ids that still exist. KEY SHARE lets other batches update the
    counters of the same issues but makes a merge's or split's FOR UPDATE (and a delete) wait for our commit."""
    table = table_of(Issue)
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
    issue_rows: list[dict[str, Any]] = [
        {
            "id": uuid7(),
            "project_id": project_id,
            "created_at": now,
            "status": IssueStatus.ACTIVE,
            "name": n.name,
            "description": n.description,
            "exception_types": n.exception_types,
            "exception_values": n.exception_values,
            "exception_functions": n.exception_functions,
            "exception_sources": n.exception_sources,
            "culprit": n.culprit,
            "occurrences": 0,
            "users": 0,
        }
        for n in new
    ]
    session.execute(sa.insert(table_of(Issue)), issue_rows)
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
    table = table_of(IssueFingerprint)
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
        session.execute(sa.delete(table_of(Issue)).where(table_of(Issue).c.id.in_([row["id"] for _, row in lost])))
        created.update(lookup_and_lock(session, project_id, [n.fingerprint for n, _ in lost]))
    return created


def set_severities(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """`{"b_id", "b_severity"}` per new issue a severity rule matched (one executemany)."""
    if not rows:
        return
    issues = table_of(Issue)
    stmt = sa.update(issues).where(issues.c.id == sa.bindparam("b_id")).values(severity=sa.bindparam("b_severity"))
    session.connection().execute(stmt, list(rows))


def reopen(session: Session, refs: Iterable[IssueRef]) -> list[IssueRef]:
    """Regression: resolved (and legacy archived/pending_release) issues become active again."""
    candidates = {ref.id: ref for ref in refs if ref.status in REOPENABLE and not ref.reopened}
    if not candidates:
        return []
    table = table_of(Issue)
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


def mark_regressions(session: Session, releases: Mapping[uuid.UUID, tuple[IssueRef, str | None]]) -> None:
    """Reopened issues, each with the release of the event that reopened it: a release the issue was never seen in
    means the fix shipped and the error came back in a newer build — a regression in that release. Reopened by an
    event of an already-seen release (or of none) clears any earlier mark: that is the old build still running."""
    if not releases:
        return
    table = table_of(IssueTag)
    wanted = [(issue_id, release) for issue_id, (_ref, release) in releases.items() if release]
    seen: set[tuple[uuid.UUID, str]] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        seen.update(
            (row.issue_id, row.value)
            for row in session.execute(
                sa.select(table.c.issue_id, table.c.value).where(
                    table.c.key == tags.RELEASE,
                    sa.tuple_(table.c.issue_id, table.c.value).in_(chunk),
                )
            )
        )
    issues = table_of(Issue)
    for issue_id, (ref, release) in sorted(releases.items(), key=lambda item: str(item[0])):
        ref.regressed_in = release if release and (issue_id, release) not in seen else None
        session.execute(sa.update(issues).where(issues.c.id == issue_id).values(regressed_in=ref.regressed_in))


def assign(
    session: Session,
    issue_id: uuid.UUID,
    project_id: int,
    assignee: Assignee | None,
    *,
    trigger: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any] | None:
    """Insert an assignment unless the issue already has one (never overwritten, spec §5.9); the effective one.

    An assignment made here is the system's (a grouping or assignment rule): it gets an activity entry with
    `trigger` saying which kind of rule, so the issue's history says who assigned it and why."""
    table = table_of(IssueAssignment)
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
        result: Any = session.execute(stmt, row)
        inserted = result.rowcount == 1
        if inserted:
            after = {"type": assignee.type, "id": assignee.id if assignee.type == "user" else str(assignee.id)}
            session.execute(
                sa.insert(table_of(ActivityLog)),
                [
                    lifecycle.activity_row(
                        project_id=project_id,
                        issue_id=issue_id,
                        activity="assigned",
                        user_id=None,
                        name=name,
                        changes=[lifecycle.change("assignee", None, after)],
                        extra={"trigger": dict(trigger or {"type": "rule"})},
                    )
                ],
            )
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
    props["event_uuid"] = str(event_uuid)  # the event that caused it: what alert messages quote
    if ref.created:
        event = lifecycle.ISSUE_CREATED
    else:
        event = lifecycle.ISSUE_REOPENED
        props["previous_status"] = ref.previous_status
        session.execute(
            sa.insert(table_of(ActivityLog)),
            [
                lifecycle.activity_row(
                    project_id=project_id,
                    issue_id=ref.id,
                    activity="updated",
                    user_id=None,
                    name=ref.name,
                    changes=[lifecycle.change("status", ref.previous_status, ref.status)],
                    extra={
                        "trigger": {
                            "type": "regression",
                            "event_uuid": str(event_uuid),
                            **({"release": ref.regressed_in} if ref.regressed_in else {}),
                        }
                    },
                )
            ],
        )
    lifecycle.emit(session, project_id=project_id, event=event, issue_id=ref.id, properties=props)
