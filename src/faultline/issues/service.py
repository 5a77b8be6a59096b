"""Issue workflow: status/severity/name changes, assignment, merge, split and bulk actions.

The REST API and the UI call these functions with an open write session; they raise domain errors (never HTTP
ones) and write the activity entry and the lifecycle outbox row of every change in the caller's transaction
(spec §2.12), so a change is never announced without having happened nor the other way round.

Concurrency: SQLite serialises writers (write sessions start with BEGIN IMMEDIATE); on PostgreSQL the issue rows
and fingerprint rows involved are locked FOR UPDATE in id order, as PostHog does, so a merge racing a digest batch
or another merge cannot interleave.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts import assignees
from faultline.accounts.models import User
from faultline.db import check_only, upsert, utcnow
from faultline.errors import DomainError, NotFound, ValidationFailed
from faultline.ids import uuid7
from faultline.issues import aggregates, fingerprints, lifecycle, naming
from faultline.issues.models import SEVERITIES, Event, Issue, IssueAssignment, IssueFingerprint, IssueStatus
from faultline.issues.sanitize import clean_optional, is_storable
from faultline.protocol.seams import Assignee

UNTITLED = "Untitled issue"
EDITABLE_FIELDS = ("status", "severity", "name", "description")
# Changes to these are "visible state" (PostHog stamps state_updated_at for them); description is not logged.
LOGGED_FIELDS = ("status", "severity", "name")


class IssueError(DomainError):
    """Base of the workflow errors; the message is user-facing."""


class IssueNotFound(NotFound, IssueError):
    def __init__(self) -> None:
        super().__init__("Issue not found")


class InvalidStatus(ValidationFailed, IssueError):
    """A status no one may set. Raised for the `status` field of an update, or for a whole bulk request."""

    def __init__(self, *, field: bool = False) -> None:
        if field:
            super().__init__('"status" is not a valid choice.', "status", "invalid_choice")
        else:
            super().__init__("Invalid status")


class InvalidSeverity(ValidationFailed, IssueError):
    def __init__(self) -> None:
        super().__init__('"severity" is not a valid choice.', "severity", "invalid_choice")


class AssigneeNotInOrganization(ValidationFailed, IssueError):
    pass


class KeepOneFingerprint(ValidationFailed, IssueError):
    def __init__(self) -> None:
        super().__init__("Keep at least one fingerprint in this issue: untick one.", "fingerprints")


class MergeResult(enum.Enum):
    MERGED = "merged"
    NO_SOURCE_ISSUES = "no_source_issues"


@dataclass(frozen=True)
class MergeOutcome:
    result: MergeResult
    merged_issue_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class SplitRequest:
    fingerprint: str
    name: str | None = None
    description: str | None = None


# --- helpers -------------------------------------------------------------------------------------------------------


def _locked(session: Session, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """FOR UPDATE where it means something (PostgreSQL); SQLite's writer lock already serialises us."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def get_issue(session: Session, project_id: int, issue_id: uuid.UUID, *, lock: bool = False) -> Issue:
    stmt = sa.select(Issue).where(Issue.project_id == project_id, Issue.id == issue_id)
    issue = session.execute(_locked(session, stmt) if lock else stmt).scalar_one_or_none()
    if issue is None:
        raise IssueNotFound()
    return issue


def _current_assignee(session: Session, issue_id: uuid.UUID) -> dict[str, Any] | None:
    row = session.execute(
        sa.select(IssueAssignment.user_id, IssueAssignment.role_id).where(IssueAssignment.issue_id == issue_id)
    ).first()
    return assignees.assignee_json(row.user_id, row.role_id) if row else None


def _first_fingerprint(session: Session, issue_id: uuid.UUID) -> str | None:
    return session.execute(
        sa.select(IssueFingerprint.fingerprint)
        .where(IssueFingerprint.issue_id == issue_id)
        .order_by(IssueFingerprint.first_seen, IssueFingerprint.created_at)
        .limit(1)
    ).scalar_one_or_none()


def _compact(value: Mapping[str, Any] | None) -> str | None:
    return orjson.dumps(dict(value)).decode() if value else None


def _emit(
    session: Session,
    issue: Issue,
    event: str,
    actor: User | None,
    *,
    status: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    properties = lifecycle.issue_properties(
        name=issue.name,
        description=issue.description,
        status=status or issue.status,
        severity=issue.severity,
        first_seen=issue.created_at,
        fingerprint=_first_fingerprint(session, issue.id),
        assignee=_current_assignee(session, issue.id),
    )
    if extra:
        properties.update(extra)
    lifecycle.emit(
        session,
        project_id=issue.project_id,
        event=event,
        issue_id=issue.id,
        properties=properties,
        person=lifecycle.person_of(actor),
    )


def _log(
    session: Session,
    issue: Issue,
    activity: str,
    actor: User | None,
    changes: Sequence[Mapping[str, Any]],
    now: dt.datetime,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    lifecycle.record_activity(
        session,
        project_id=issue.project_id,
        issue_id=issue.id,
        activity=activity,
        user_id=actor.id if actor is not None else None,
        name=issue.name,
        changes=changes,
        extra=extra,
        created_at=now,
    )


# --- update --------------------------------------------------------------------------------------------------------


def update_issue(
    session: Session,
    project_id: int,
    issue_id: uuid.UUID,
    fields: Mapping[str, Any],
    actor: User | None,
    *,
    now: dt.datetime | None = None,
) -> Issue:
    """Apply the given subset of status/severity/name/description.

    Only keys present are applied; state_updated_at is stamped only when a value really changes; an "updated"
    activity lists status/severity/name changes; a status change emits its lifecycle event.
    """
    now = now or utcnow()
    issue = get_issue(session, project_id, issue_id, lock=True)
    if "status" in fields and fields["status"] not in IssueStatus.WRITABLE:
        raise InvalidStatus(field=True)
    if "severity" in fields and fields["severity"] is not None and fields["severity"] not in SEVERITIES:
        raise InvalidSeverity()
    wanted = {key: fields[key] for key in EDITABLE_FIELDS if key in fields}
    for key in ("name", "description"):
        if key in wanted:
            wanted[key] = clean_optional(wanted[key])
    before = {key: getattr(issue, key) for key in EDITABLE_FIELDS}
    changed = [key for key, value in wanted.items() if value != before[key]]
    if not changed:
        return issue
    for key in changed:
        setattr(issue, key, wanted[key])
    issue.state_updated_at = now
    session.flush()
    changes = [lifecycle.change(key, before[key], wanted[key]) for key in LOGGED_FIELDS if key in changed]
    if changes:
        _log(session, issue, "updated", actor, changes, now)
    if "status" in changed:
        _emit(
            session,
            issue,
            lifecycle.STATUS_EVENTS[issue.status],
            actor,
            extra={"previous_status": lifecycle.STATUS_LABELS.get(before["status"], before["status"])},
        )
    return issue


# --- assignment ----------------------------------------------------------------------------------------------------


def check_assignee(session: Session, organization_id: uuid.UUID, assignee: Assignee) -> None:
    """The assignee must be a member (user) or a role of the project's organization."""
    if message := assignees.membership_error(session, organization_id, assignee):
        raise AssigneeNotInOrganization(message)


def _assign_one(
    session: Session, issue: Issue, assignee: Assignee | None, actor: User | None, now: dt.datetime
) -> bool:
    """Apply one assignment (already validated); False when nothing changed (no activity, no event)."""
    before = _current_assignee(session, issue.id)
    if assignee is not None:
        after = assignee.as_json()
        after = {"id": after["id"], "type": after["type"]}
        if before == after:
            return False
        upsert(
            session,
            IssueAssignment.__table__,
            [
                {
                    "id": uuid7(),
                    "issue_id": issue.id,
                    "project_id": issue.project_id,
                    "user_id": assignee.id if assignee.type == "user" else None,
                    "role_id": assignee.id if assignee.type == "role" else None,
                    "created_at": now,
                }
            ],
            index_elements=["issue_id"],
            update=["user_id", "role_id", "created_at"],
        )
        _emit(session, issue, lifecycle.ISSUE_ASSIGNED, actor, extra={"assignee": _compact(after)})
    else:
        if before is None:
            return False
        session.execute(sa.delete(IssueAssignment).where(IssueAssignment.issue_id == issue.id))
        after = None
        _emit(session, issue, lifecycle.ISSUE_UNASSIGNED, actor, extra={"previous_assignee": _compact(before)})
    _log(session, issue, "assigned", actor, [lifecycle.change("assignee", before, after)], now)
    return True


def assign_issue(
    session: Session,
    project_id: int,
    organization_id: uuid.UUID,
    issue_id: uuid.UUID,
    assignee: Assignee | None,
    actor: User | None,
    *,
    now: dt.datetime | None = None,
) -> bool:
    """Assign to a user or role, or unassign with None. Returns whether anything changed."""
    now = now or utcnow()
    issue = get_issue(session, project_id, issue_id, lock=True)
    if assignee is not None:
        check_assignee(session, organization_id, assignee)
    changed = _assign_one(session, issue, assignee, actor, now)
    if changed:
        issue.state_updated_at = now
        session.flush()
    return changed


# --- merge ---------------------------------------------------------------------------------------------------------


def _adopt_assignee(session: Session, target: Issue, source_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
    """Target keeps its own assignee; otherwise it adopts the sources' one only if they agree on exactly one."""
    if _current_assignee(session, target.id) is not None:
        return
    pairs = {
        (row.user_id, row.role_id)
        for row in session.execute(
            sa.select(IssueAssignment.user_id, IssueAssignment.role_id).where(IssueAssignment.issue_id.in_(source_ids))
        )
    }
    pairs.discard((None, None))
    if len(pairs) != 1:
        return
    user_id, role_id = pairs.pop()
    session.execute(
        sa.insert(IssueAssignment.__table__),
        [
            {
                "id": uuid7(),
                "issue_id": target.id,
                "project_id": target.project_id,
                "user_id": user_id,
                "role_id": role_id,
                "created_at": now,
            }
        ],
    )


def merge_issues(
    session: Session,
    project_id: int,
    target_id: uuid.UUID,
    source_ids: Iterable[uuid.UUID],
    actor: User | None,
    *,
    now: dt.datetime | None = None,
    trigger: Mapping[str, Any] | None = None,
) -> MergeOutcome:
    """Fold the source issues into the target (spec §6.2).

    Fingerprints are re-pointed with version + 1, events move to the target, aggregates are combined, the
    assignee-adoption rule applies, the sources are deleted, and the target gets a "merged" activity entry and an
    `$error_tracking_issue_merged` event listing the ids actually merged. Unknown or foreign ids are ignored.
    `trigger` says what made the system merge when no person did (the activity entry's `trigger`, as for reopens).
    """
    now = now or utcnow()
    wanted = sorted({sid for sid in source_ids if sid != target_id})
    # Target and sources are locked in one statement in id order — the order digest batches lock issue rows in —
    # so a merge and a batch touching the same issues queue up instead of deadlocking.
    locked = {
        issue.id: issue
        for issue in session.execute(
            _locked(
                session,
                sa.select(Issue)
                .where(Issue.project_id == project_id, Issue.id.in_([target_id, *wanted]))
                .order_by(Issue.id),
            )
        ).scalars()
    }
    target = locked.pop(target_id, None)
    if target is None:
        raise IssueNotFound()
    sources = [locked[sid] for sid in wanted if sid in locked]
    if not sources:
        return MergeOutcome(MergeResult.NO_SOURCE_ISSUES)
    merged = [source.id for source in sources]

    session.execute(_locked(session, sa.select(IssueFingerprint.id).where(IssueFingerprint.issue_id.in_(merged)))).all()
    fingerprints.repoint(session, project_id, target.id, issue_ids=merged)
    fingerprints.move_events(session, project_id, target.id, issue_ids=merged)
    aggregates.merge_into(session, target.id, merged)
    _adopt_assignee(session, target, merged, now)
    session.execute(sa.delete(Issue).where(Issue.project_id == project_id, Issue.id.in_(merged)))
    session.execute(sa.update(Issue).where(Issue.id == target.id).values(state_updated_at=now))
    session.refresh(target)

    merged_strings = [str(mid) for mid in merged]
    _log(
        session,
        target,
        "merged",
        actor,
        [
            {
                "type": lifecycle.SCOPE,
                "action": "merged",
                "field": "merged_issue_ids",
                "before": None,
                "after": merged_strings,
            }
        ],
        now,
        extra={"trigger": dict(trigger)} if trigger else None,
    )
    _emit(session, target, lifecycle.ISSUE_MERGED, actor, extra={"merged_issue_ids": merged_strings})
    return MergeOutcome(MergeResult.MERGED, merged)


def fold_if_empty(
    session: Session, project_id: int, source_id: uuid.UUID, target_id: uuid.UUID, trigger: Mapping[str, Any]
) -> bool:
    """After events of `source_id` moved to `target_id` by fingerprint: if the source lost its last fingerprint it
    is merged into the target like a person would merge it (assignee adopted, `merged` activity and notification),
    with `trigger` saying why; both sides' counters are re-derived from their events. True if it was merged."""
    emptied = fingerprints.remaining(session, source_id) == 0
    if emptied:
        merge_issues(session, project_id, target_id, [source_id], None, trigger=trigger)
    aggregates.recompute(session, [target_id] if emptied else [target_id, source_id])
    return emptied


# --- split ---------------------------------------------------------------------------------------------------------


def _name_change(before: str | None, after: str | None) -> dict[str, Any]:
    return {"type": lifecycle.SCOPE, "action": "changed", "field": "name", "before": before, "after": after}


def _retitle_after_split(
    session: Session, project_id: int, issue: Issue, moved_texts: set[tuple[str, str]]
) -> dict[str, Any]:
    """New name/description for the issue a split left behind, when its title described events that left.

    Only a title that is exactly what the digest derived from a moved fingerprint's events is replaced (by what the
    remaining newest event says); a title someone wrote stays."""
    current = (issue.name or "", issue.description or "")
    if current not in moved_texts:
        return {}
    props = naming.newest_event_properties(session, project_id, issue.id)
    if props is None:
        return {}
    name, description = naming.texts(props)
    if (name, description) == current:
        return {}
    return {"name": name, "description": description}


def split_issue(
    session: Session,
    project_id: int,
    issue_id: uuid.UUID,
    requests: Sequence[SplitRequest],
    actor: User | None,
    *,
    keep_one: bool = False,
    now: dt.datetime | None = None,
) -> list[uuid.UUID]:
    """Move each requested fingerprint the issue owns (others are skipped) to a new issue of its own (spec §6.3).

    The fingerprint's events move with it and both sides' aggregates are re-derived from their events. `keep_one`:
    refuse (`KeepOneFingerprint`) to move every fingerprint, which would leave an issue that nothing can ever land
    in again — the web UI asks for that; the REST API does not, as PostHog does not.
    """
    now = now or utcnow()
    issue = get_issue(session, project_id, issue_id, lock=True)
    old_name = issue.name
    by_fingerprint: dict[str, SplitRequest] = {}
    for request in requests:
        # A value no stored fingerprint can equal (NUL, lone surrogates) is simply not owned by the issue.
        if is_storable(request.fingerprint):
            by_fingerprint.setdefault(request.fingerprint, request)
    if not by_fingerprint:
        return []
    owned = list(
        session.execute(
            _locked(
                session,
                sa.select(IssueFingerprint)
                .where(
                    check_only(IssueFingerprint.project_id) == project_id,
                    IssueFingerprint.issue_id == issue.id,
                    IssueFingerprint.fingerprint.in_(list(by_fingerprint)),
                )
                .order_by(IssueFingerprint.id),
            )
        ).scalars()
    )
    if keep_one and owned:
        total = session.execute(
            sa.select(sa.func.count()).where(
                check_only(IssueFingerprint.project_id) == project_id, IssueFingerprint.issue_id == issue.id
            )
        ).scalar_one()
        if len(owned) >= total:
            raise KeepOneFingerprint()
    owned_by_value = {fp.fingerprint: fp for fp in owned}
    new_ids: list[uuid.UUID] = []
    moved_texts: set[tuple[str, str]] = set()
    for value, request in by_fingerprint.items():
        fp = owned_by_value.get(value)
        if fp is None:
            continue
        # Named like the digest names an issue, from the fingerprint's newest event (unless the request names it).
        props = naming.newest_event_properties(session, project_id, issue.id, value)
        derived = naming.texts(props) if props is not None else None
        if derived is not None:
            moved_texts.add(derived)
        new_id = uuid7()
        session.execute(
            sa.insert(Issue.__table__),
            [
                {
                    "id": new_id,
                    "project_id": project_id,
                    "created_at": now,
                    "state_updated_at": now,
                    "status": IssueStatus.ACTIVE,
                    "severity": None,
                    "name": clean_optional(request.name) or (derived[0] if derived else None) or UNTITLED,
                    "description": clean_optional(request.description) or (derived[1] if derived else None) or None,
                    "first_seen": fp.first_seen,
                    "last_seen": None,
                    "occurrences": 0,
                    "users": 0,
                }
            ],
        )
        session.execute(
            sa.update(IssueFingerprint)
            .where(IssueFingerprint.id == fp.id)
            .values(issue_id=new_id, version=IssueFingerprint.version + 1)
        )
        session.execute(
            sa.update(Event)
            .where(check_only(Event.project_id) == project_id, Event.fingerprint == value, Event.issue_id == issue.id)
            .values(issue_id=new_id)
        )
        new_ids.append(new_id)
    if not new_ids:
        return []
    aggregates.recompute(session, [issue.id, *new_ids])
    renamed = _retitle_after_split(session, project_id, issue, moved_texts)
    session.execute(sa.update(Issue).where(Issue.id == issue.id).values(state_updated_at=now, **renamed))
    session.refresh(issue)
    new_strings = [str(nid) for nid in new_ids]
    _log(
        session,
        issue,
        "split",
        actor,
        [
            {
                "type": lifecycle.SCOPE,
                "action": "split",
                "field": "split_issue_ids",
                "before": None,
                "after": new_strings,
            },
            *([_name_change(old_name, issue.name)] if renamed else []),
        ],
        now,
    )
    _emit(session, issue, lifecycle.ISSUE_SPLIT, actor, extra={"split_issue_ids": new_strings})
    return new_ids


# --- bulk ----------------------------------------------------------------------------------------------------------


def _own_issues(session: Session, project_id: int, ids: Iterable[uuid.UUID]) -> list[Issue]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = {
        issue.id: issue
        for issue in session.execute(
            _locked(
                session,
                sa.select(Issue).where(Issue.project_id == project_id, Issue.id.in_(wanted)).order_by(Issue.id),
            )
        ).scalars()
    }
    return [found[i] for i in wanted if i in found]


def bulk_set_status(
    session: Session,
    project_id: int,
    ids: Iterable[uuid.UUID],
    status: str | None,
    actor: User | None,
    *,
    now: dt.datetime | None = None,
) -> list[uuid.UUID]:
    """Set one status on many issues; unchanged, unknown and foreign ids are skipped. Returns the changed ids."""
    if status not in IssueStatus.WRITABLE:
        raise InvalidStatus()
    now = now or utcnow()
    changed: list[uuid.UUID] = []
    for issue in _own_issues(session, project_id, ids):
        if issue.status == status:
            continue
        previous = issue.status
        issue.status = status
        issue.state_updated_at = now
        session.flush()
        _log(session, issue, "updated", actor, [lifecycle.change("status", previous, status)], now)
        _emit(
            session,
            issue,
            lifecycle.STATUS_EVENTS[status],
            actor,
            extra={"previous_status": lifecycle.STATUS_LABELS.get(previous, previous)},
        )
        changed.append(issue.id)
    return changed


def bulk_assign(
    session: Session,
    project_id: int,
    organization_id: uuid.UUID,
    ids: Iterable[uuid.UUID],
    assignee: Assignee | None,
    actor: User | None,
    *,
    now: dt.datetime | None = None,
) -> list[uuid.UUID]:
    now = now or utcnow()
    if assignee is not None:
        check_assignee(session, organization_id, assignee)
    changed: list[uuid.UUID] = []
    for issue in _own_issues(session, project_id, ids):
        if _assign_one(session, issue, assignee, actor, now):
            issue.state_updated_at = now
            changed.append(issue.id)
    session.flush()
    return changed


def bulk_merge(
    session: Session,
    project_id: int,
    ids: Sequence[uuid.UUID],
    actor: User | None,
    *,
    now: dt.datetime | None = None,
) -> tuple[uuid.UUID | None, MergeOutcome]:
    """Merge the listed issues into the first one of them that belongs to the project (the caller's primary)."""
    own = _own_issues(session, project_id, ids)
    if not own:
        return None, MergeOutcome(MergeResult.NO_SOURCE_ISSUES)
    target = own[0]
    return target.id, merge_issues(session, project_id, target.id, [i.id for i in own[1:]], actor, now=now)
