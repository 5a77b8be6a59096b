"""Read side of issues: the list with filters/sorting, details, events, activity, fingerprints.

Every function takes a project id and filters on it, so foreign objects are simply "not found". Results are plain
dicts in the REST read shape (PostHog's issue serializer plus our aggregates); the UI renders the same dicts.
The list is answered from `issues` columns, one assignment lookup and two volume lookups for the page — never from
`events`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import RoleMembership, User
from faultline.issues import aggregates, search
from faultline.issues.filters import IssueQuery, PropertyTerm
from faultline.issues.lifecycle import SCOPE
from faultline.issues.models import ActivityLog, Event, Issue, IssueAssignment, IssueFingerprint
from faultline.issues.sanitize import is_storable
from faultline.issues.search import like_pattern as _like_pattern

ISSUE_COLUMNS = (
    Issue.id,
    Issue.status,
    Issue.severity,
    Issue.name,
    Issue.description,
    Issue.created_at,
    Issue.state_updated_at,
    Issue.first_seen,
    Issue.last_seen,
    Issue.occurrences,
    Issue.users,
)

_ORDER_COLUMNS = {
    "last_seen": Issue.last_seen,
    "first_seen": Issue.first_seen,
    "occurrences": Issue.occurrences,
    "users": Issue.users,
    "created_at": Issue.created_at,
}


def assignee_json(user_id: int | None, role_id: uuid.UUID | None) -> dict[str, Any] | None:
    """PostHog's assignee representation: user ids are integers, role ids UUID strings."""
    if user_id is not None:
        return {"id": user_id, "type": "user"}
    if role_id is not None:
        return {"id": str(role_id), "type": "role"}
    return None


def assignees_for(session: Session, issue_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not issue_ids:
        return {}
    rows = session.execute(
        sa.select(IssueAssignment.issue_id, IssueAssignment.user_id, IssueAssignment.role_id).where(
            IssueAssignment.issue_id.in_(list(issue_ids))
        )
    ).all()
    result: dict[uuid.UUID, dict[str, Any]] = {}
    for issue_id, user_id, role_id in rows:
        value = assignee_json(user_id, role_id)
        if value is not None:
            result[issue_id] = value
    return result


def serialize_issue(
    row: Any, assignee: dict[str, Any] | None, volume: tuple[list[int], list[int]] | None
) -> dict[str, Any]:
    first_seen = row.first_seen or row.created_at
    hourly, daily = volume or ([0] * aggregates.HOURLY_BUCKETS, [0] * aggregates.DAILY_BUCKETS)
    return {
        "id": row.id,
        "status": row.status,
        "severity": row.severity,
        "name": row.name,
        "description": row.description,
        "first_seen": first_seen,
        "last_seen": row.last_seen,
        "created_at": row.created_at,
        "state_updated_at": row.state_updated_at,
        "assignee": assignee,
        "external_issues": [],
        "cohort": None,
        "aggregates": {
            "occurrences": int(row.occurrences or 0),
            "users": int(row.users or 0),
            "first_seen": first_seen,
            "last_seen": row.last_seen,
            "volume_24h": hourly,
            "volume_14d": daily,
        },
    }


def _serialize_rows(session: Session, rows: Sequence[Any], now: dt.datetime) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    assignees = assignees_for(session, ids)
    volumes = aggregates.volume_series(session, ids, now)
    return [serialize_issue(row, assignees.get(row.id), volumes.get(row.id)) for row in rows]


def _property_value(dialect: str, key: str) -> sa.ColumnElement[Any]:
    """The event property as text on both databases (SQLite's JSON_EXTRACT keeps numbers numeric)."""
    value = Event.properties[key].as_string()
    return value if dialect == "postgresql" else sa.cast(value, sa.Text)


def _property_clause(dialect: str, term: PropertyTerm) -> sa.ColumnElement[bool]:
    """Issues with at least one event whose property `term.key` equals `term.value` (`*` = any characters).

    The events table has no per-property index, so this is the one list filter whose cost can grow with the number
    of events rather than issues.
    """
    if not is_storable(term.value):
        return sa.false()
    value = _property_value(dialect, term.key)
    if "*" in term.value:
        pattern = _like_pattern(term.value).removeprefix("%").removesuffix("%").replace("*", "%")
        match = value.like(pattern, escape="\\")
    else:
        match = value == term.value
    # Correlated EXISTS through the (issue_id, timestamp) index: a common value is confirmed by each candidate
    # issue's first event, a rare one costs one pass over the candidates' events (other filters narrow them first).
    # No project test in here: an issue's events are its project's, and naming `events.project_id` made SQLite
    # walk the (project_id, timestamp) index once per issue instead — quadratic (measured with bench/ui.py).
    return sa.exists().where(Event.issue_id == Issue.id, match)


# A search whose matches are this few is answered from one pass over them (count, then sort in Python); more
# matches are counted from the index and paged by an index walk in the requested order.
SEARCH_PROBE = 2_000


def _assignee_filter(stmt: sa.Select[Any], query: IssueQuery, project_id: int, user_id: int | None) -> sa.Select[Any]:
    """Assigned-to filters as a JOIN, so SQLite starts from the (small) assignment side instead of probing every
    issue; "unassigned" is an anti-join (its count is derived in `_count`)."""
    filt = query.assignee
    if filt is None:
        return stmt
    if filt.kind == "unassigned":
        assigned = sa.select(IssueAssignment.issue_id).where(IssueAssignment.issue_id == Issue.id).exists()
        return stmt.where(~assigned)
    stmt = stmt.join(IssueAssignment, IssueAssignment.issue_id == Issue.id).where(
        IssueAssignment.project_id == project_id
    )
    if filt.kind == "me":
        return stmt.where(IssueAssignment.user_id == (user_id if user_id is not None else -1))
    if filt.kind == "my_roles":
        roles = sa.select(RoleMembership.role_id).where(RoleMembership.user_id == (user_id or -1))
        return stmt.where(IssueAssignment.role_id.in_(roles))
    if filt.kind == "user":
        return stmt.where(IssueAssignment.user_id == filt.user_id)
    if filt.kind == "role":
        return stmt.where(IssueAssignment.role_id == filt.role_id)
    return stmt  # "any"


def issue_conditions(
    dialect: str, project_id: int, query: IssueQuery, *, scan: bool = False, with_search: bool = True
) -> list[sa.ColumnElement[bool]]:
    """WHERE terms of the list (the assignee filter is a join, see `_assignee_filter`).

    `scan=True` words the project test so that SQLite reads the table sequentially instead of walking a
    (project_id, …) index and fetching every row by rowid: 2–3× faster when most rows must be inspected anyway,
    as in a substring search.
    """
    project = (Issue.project_id + 0) == project_id if scan else Issue.project_id == project_id
    conditions: list[sa.ColumnElement[bool]] = [project]
    if len(query.statuses) == 1:
        conditions.append(Issue.status == query.statuses[0])
    elif query.statuses:
        conditions.append(Issue.status.in_(query.statuses))
    if query.severities:
        conditions.append(Issue.severity.in_(query.severities))
    if query.search and with_search:
        conditions.append(search.match_clause(dialect, query.search))
    conditions.extend(_property_clause(dialect, term) for term in query.properties)
    first_seen = sa.func.coalesce(Issue.first_seen, Issue.created_at)
    if query.first_seen_after is not None:
        conditions.append(first_seen >= query.first_seen_after)
    if query.first_seen_before is not None:
        conditions.append(first_seen <= query.first_seen_before)
    if query.last_seen_after is not None:
        conditions.append(Issue.last_seen >= query.last_seen_after)
    if query.last_seen_before is not None:
        conditions.append(Issue.last_seen <= query.last_seen_before)
    if query.date_from is not None:
        conditions.append(Issue.last_seen >= query.date_from)
    if query.date_to is not None:
        conditions.append(first_seen <= query.date_to)
    return conditions


def _ordering(dialect: str, query: IssueQuery) -> list[Any]:
    column = _ORDER_COLUMNS[query.order_by]
    if query.descending:
        primary = column.desc()
        # SQLite already sorts NULLs first ascending / last descending; say so explicitly only where it differs.
        if dialect == "postgresql":
            primary = primary.nulls_last()
        return [primary, Issue.id.desc()]
    primary = column.asc()
    if dialect == "postgresql":
        primary = primary.nulls_first()
    return [primary, Issue.id.asc()]


def _sort_key(query: IssueQuery) -> Any:
    """Python twin of `_ordering` (NULLs last when descending, first when ascending; ties by id)."""

    def key(row: Any) -> tuple[Any, ...]:
        value = row[1]
        missing = value is None
        if query.descending:
            return (missing, _Reverse(value) if not missing else 0, _Reverse(row.id))
        return (not missing, value if not missing else 0, row.id)

    return key


class _Reverse:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value


def _count(session: Session, dialect: str, project_id: int, query: IssueQuery, user_id: int | None) -> int:
    scan = bool(query.search)
    conditions = issue_conditions(dialect, project_id, query, scan=scan)
    if query.assignee is not None and query.assignee.kind == "unassigned":
        # Everything minus the assigned ones: two cheap counts instead of an anti-join probe per issue.
        everything = session.execute(sa.select(sa.func.count()).select_from(Issue).where(*conditions)).scalar_one()
        assigned = session.execute(
            sa.select(sa.func.count())
            .select_from(Issue)
            .join(IssueAssignment, IssueAssignment.issue_id == Issue.id)
            .where(IssueAssignment.project_id == project_id, *conditions)
        ).scalar_one()
        return int(everything - assigned)
    stmt = _assignee_filter(sa.select(sa.func.count()).select_from(Issue), query, project_id, user_id)
    return int(session.execute(stmt.where(*conditions)).scalar_one())


def _only_index_filters(query: IssueQuery) -> bool:
    """Whether the search index's row map (project, status) can answer the count without reading `issues`: no
    filter but search and status (spelled as a comparison so that a filter added to IssueQuery later counts as one)."""
    plain = IssueQuery(
        statuses=query.statuses, search=query.search, order_by=query.order_by, descending=query.descending
    )
    return query == plain


def _index_pays(query: IssueQuery) -> bool:
    """Whether the SQLite FTS index should drive this search. "Assigned to …" filters are driven by the (small)
    assignment side instead, testing LIKE on those rows; looking up the assignment of every FTS match costs more
    when the term is common (bench data, active "KeyError" issues assigned to me: 57 ms CPU through the index,
    28 ms from the assignments)."""
    assert query.search is not None
    if query.assignee is not None and query.assignee.kind != "unassigned":
        return False
    return search.indexable(query.search)


def _indexed_count(session: Session, project_id: int, query: IssueQuery, user_id: int | None) -> int:
    """Matches counted from the SQLite FTS index (migration 0009), joining `issues` only for filters it lacks."""
    assert query.search is not None
    rows = search.search_rows
    matches = search.sqlite_matches(query.search).where(rows.c.project_id == project_id)
    if query.statuses:
        matches = matches.where(rows.c.status.in_(query.statuses))
    if _only_index_filters(query):
        return int(session.execute(sa.select(sa.func.count()).select_from(matches.subquery())).scalar_one())
    found = matches.subquery("found")
    stmt = _assignee_filter(
        sa.select(sa.func.count()).select_from(found.join(Issue, Issue.id == found.c.issue_id)),
        query,
        project_id,
        user_id,
    )
    conditions = issue_conditions("sqlite", project_id, query, scan=True, with_search=False)
    return int(session.execute(stmt.where(*conditions)).scalar_one())


def _probe(dialect: str, project_id: int, query: IssueQuery, user_id: int | None, indexed: bool) -> sa.Select[Any]:
    """(id, order value) of up to SEARCH_PROBE + 1 matches: from the FTS index, or a sequential scan."""
    columns = (Issue.id, _ORDER_COLUMNS[query.order_by])
    if indexed:
        # Driven from the index: only matching issues are read (by primary key).
        assert query.search is not None
        found = search.sqlite_matches(query.search).where(search.search_rows.c.project_id == project_id).subquery()
        stmt = sa.select(*columns).select_from(found.join(Issue, Issue.id == found.c.issue_id))
        conditions = issue_conditions(dialect, project_id, query, scan=True, with_search=False)
    else:
        stmt = sa.select(*columns)
        conditions = issue_conditions(dialect, project_id, query, scan=True)
    return _assignee_filter(stmt, query, project_id, user_id).where(*conditions).limit(SEARCH_PROBE + 1)


def _page_from_probe(
    session: Session, probe: Sequence[Any], query: IssueQuery, *, limit: int, offset: int, now: dt.datetime
) -> list[dict[str, Any]]:
    ordered = sorted(probe, key=_sort_key(query))
    page_ids = [row.id for row in ordered[offset : offset + limit]]
    rows = session.execute(sa.select(*ISSUE_COLUMNS).where(Issue.id.in_(page_ids))).all() if page_ids else []
    position = {issue_id: index for index, issue_id in enumerate(page_ids)}
    return _serialize_rows(session, sorted(rows, key=lambda row: position[row.id]), now)


def list_issues(
    session: Session,
    project_id: int,
    query: IssueQuery,
    *,
    limit: int,
    offset: int,
    now: dt.datetime,
    user_id: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of serialized issues)."""
    dialect = session.get_bind().dialect.name
    if query.search:
        indexed = dialect == "sqlite" and _index_pays(query) and search.sqlite_index_ready(session)
        total = _indexed_count(session, project_id, query, user_id) if indexed else None
        if total is None or total <= SEARCH_PROBE:
            # Few matches (or no index to count with): one pass collects them, and answers count and page.
            probe = session.execute(_probe(dialect, project_id, query, user_id, indexed)).all()
            if len(probe) <= SEARCH_PROBE:
                return len(probe), _page_from_probe(session, probe, query, limit=limit, offset=offset, now=now)
        if total is None:
            total = _count(session, dialect, project_id, query, user_id)
    else:
        total = _count(session, dialect, project_id, query, user_id)
    if offset >= total:
        return total, []
    stmt = _assignee_filter(sa.select(*ISSUE_COLUMNS), query, project_id, user_id)
    rows = session.execute(
        stmt.where(*issue_conditions(dialect, project_id, query))
        .order_by(*_ordering(dialect, query))
        .limit(limit)
        .offset(offset)
    ).all()
    return total, _serialize_rows(session, rows, now)


def status_counts(session: Session, project_id: int) -> dict[str, int]:
    """Issues per status in the project (the list's tab counters), from the (project_id, status, …) index."""
    rows = session.execute(
        sa.select(Issue.status, sa.func.count()).where(Issue.project_id == project_id).group_by(Issue.status)
    ).all()
    return {status: int(count) for status, count in rows}


def issue_detail(session: Session, project_id: int, issue_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    row = session.execute(
        sa.select(*ISSUE_COLUMNS).where(Issue.project_id == project_id, Issue.id == issue_id)
    ).one_or_none()
    if row is None:
        return None
    return _serialize_rows(session, [row], now)[0]


def issue_exists(session: Session, project_id: int, issue_id: uuid.UUID | None = None) -> bool:
    stmt = sa.select(Issue.id).where(Issue.project_id == project_id)
    if issue_id is not None:
        stmt = stmt.where(Issue.id == issue_id)
    return session.execute(stmt.limit(1)).first() is not None


def issue_values(session: Session, project_id: int, key: str | None, value: str | None, limit: int = 100) -> list[str]:
    """Distinct issue names / descriptions containing `value` (PostHog's taxonomic-filter helper)."""
    if not key or not value or not is_storable(value):
        return []
    column = {"name": Issue.name, "issue_description": Issue.description}.get(key)
    if column is None:
        return []
    dialect = session.get_bind().dialect.name
    pattern = _like_pattern(value)
    match = column.ilike(pattern, escape="\\") if dialect == "postgresql" else column.like(pattern, escape="\\")
    rows = session.execute(
        sa.select(column).where(Issue.project_id == project_id, column.is_not(None), match).distinct().limit(limit)
    ).scalars()
    return [v for v in rows if v is not None]


# --- fingerprints --------------------------------------------------------------------------------------------------


def fingerprint_owner(session: Session, project_id: int, fingerprint: str) -> uuid.UUID | None:
    if not is_storable(fingerprint):
        return None
    return session.execute(
        sa.select(IssueFingerprint.issue_id).where(
            IssueFingerprint.project_id == project_id, IssueFingerprint.fingerprint == fingerprint
        )
    ).scalar_one_or_none()


def serialize_fingerprint(fp: IssueFingerprint) -> dict[str, Any]:
    return {
        "id": fp.id,
        "fingerprint": fp.fingerprint,
        "issue_id": fp.issue_id,
        "version": fp.version,
        "created_at": fp.created_at,
        "first_seen": fp.first_seen,
    }


def fingerprints_stmt(project_id: int, issue_id: uuid.UUID | None = None) -> sa.Select[tuple[IssueFingerprint]]:
    stmt = sa.select(IssueFingerprint).where(IssueFingerprint.project_id == project_id)
    if issue_id is not None:
        stmt = stmt.where(IssueFingerprint.issue_id == issue_id)
    return stmt.order_by(IssueFingerprint.created_at, IssueFingerprint.id)


def get_fingerprint(session: Session, project_id: int, fingerprint_id: uuid.UUID) -> IssueFingerprint | None:
    return session.execute(
        sa.select(IssueFingerprint).where(
            IssueFingerprint.project_id == project_id, IssueFingerprint.id == fingerprint_id
        )
    ).scalar_one_or_none()


def get_fingerprint_by_value(session: Session, project_id: int, fingerprint: str) -> IssueFingerprint | None:
    if not is_storable(fingerprint):
        return None
    return session.execute(
        sa.select(IssueFingerprint).where(
            IssueFingerprint.project_id == project_id, IssueFingerprint.fingerprint == fingerprint
        )
    ).scalar_one_or_none()


# --- events --------------------------------------------------------------------------------------------------------


def serialize_event(event: Event) -> dict[str, Any]:
    """PostHog's event shape (`id` is the event uuid) plus where Faultline filed it."""
    return {
        "id": event.uuid,
        "event": "$exception",
        "distinct_id": event.distinct_id,
        "timestamp": event.timestamp,
        "received_at": event.received_at,
        "issue_id": event.issue_id,
        "fingerprint": event.fingerprint,
        "lib": event.lib,
        "lib_version": event.lib_version,
        "level": event.level,
        "properties": event.properties,
    }


def issue_events_stmt(project_id: int, issue_id: uuid.UUID, fingerprint: str | None = None) -> sa.Select[Any]:
    """Newest first; the (issue_id, timestamp) index serves both the order and the count."""
    stmt = sa.select(Event).where(Event.issue_id == issue_id, Event.project_id == project_id)
    if fingerprint is not None:
        stmt = stmt.where(Event.fingerprint == fingerprint)
    return stmt.order_by(Event.timestamp.desc(), Event.id.desc())


def latest_issue_event(session: Session, project_id: int, issue_id: uuid.UUID) -> Event | None:
    return session.execute(issue_events_stmt(project_id, issue_id).limit(1)).scalar_one_or_none()


@dataclass(frozen=True)
class EventPosition:
    """Where one event sits in its issue's newest-first list: `index` 1 is the newest."""

    index: int
    total: int
    newer: uuid.UUID | None
    older: uuid.UUID | None


def event_position(session: Session, project_id: int, event: Event) -> EventPosition:
    """Neighbours and rank of an event in the issue's newest-first order (timestamp, then row id), each answered
    from the (issue_id, timestamp) index — no offset scans however long the issue's history."""
    same_issue = (Event.issue_id == event.issue_id, Event.project_id == project_id)
    newer_cond = sa.or_(
        Event.timestamp > event.timestamp, sa.and_(Event.timestamp == event.timestamp, Event.id > event.id)
    )
    older_cond = sa.or_(
        Event.timestamp < event.timestamp, sa.and_(Event.timestamp == event.timestamp, Event.id < event.id)
    )
    newer = session.execute(
        sa.select(Event.uuid).where(*same_issue, newer_cond).order_by(Event.timestamp.asc(), Event.id.asc()).limit(1)
    ).scalar_one_or_none()
    older = session.execute(
        sa.select(Event.uuid).where(*same_issue, older_cond).order_by(Event.timestamp.desc(), Event.id.desc()).limit(1)
    ).scalar_one_or_none()
    ahead = session.execute(sa.select(sa.func.count()).where(*same_issue, newer_cond)).scalar_one()
    total = session.execute(sa.select(sa.func.count()).where(*same_issue)).scalar_one()
    return EventPosition(index=int(ahead) + 1, total=int(total), newer=newer, older=older)


def get_issue_event(session: Session, project_id: int, issue_id: uuid.UUID, event_uuid: uuid.UUID) -> Event | None:
    return session.execute(
        sa.select(Event).where(Event.project_id == project_id, Event.uuid == event_uuid, Event.issue_id == issue_id)
    ).scalar_one_or_none()


# --- activity ------------------------------------------------------------------------------------------------------


def activity_page(
    session: Session, project_id: int, *, item_id: uuid.UUID | None, limit: int, page: int
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, PostHog's ActivityLogSerializer shape (system entries carry a "System" user)."""
    conditions = [ActivityLog.project_id == project_id, ActivityLog.scope == SCOPE]
    if item_id is not None:
        conditions.append(ActivityLog.item_id == str(item_id))
    total = session.execute(sa.select(sa.func.count()).select_from(ActivityLog).where(*conditions)).scalar_one()
    rows = session.execute(
        sa.select(ActivityLog, User)
        .outerjoin(User, User.id == ActivityLog.user_id)
        .where(*conditions)
        .order_by(ActivityLog.created_at.desc(), ActivityLog.id.desc())
        .limit(limit)
        .offset((page - 1) * limit)
    ).all()
    results = []
    for entry, user in rows:
        if user is None:
            actor: dict[str, Any] = {"first_name": "System", "email": None, "is_system": True}
        else:
            actor = {"id": user.id, "first_name": user.first_name, "email": user.email, "is_system": False}
        results.append(
            {
                "id": entry.id,
                "user": actor,
                "activity": entry.activity,
                "scope": entry.scope,
                "item_id": entry.item_id,
                "detail": entry.detail,
                "created_at": entry.created_at,
            }
        )
    return total, results
