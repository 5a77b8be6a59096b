"""Read side of issues: the list with filters/sorting, details, events, activity, fingerprints.

Every function takes a project id and filters on it, so foreign objects are simply "not found". Results are plain
dicts in the REST read shape (PostHog's issue serializer plus our aggregates); the UI renders the same dicts.
The list is answered from `issues` columns, one assignment lookup and two volume lookups for the page — never from
`events`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.assignees import assignee_json
from faultline.accounts.models import RoleMembership, User
from faultline.db import check_only
from faultline.issues import aggregates, search, tags
from faultline.issues.filters import IssueQuery, PropertyTerm
from faultline.issues.lifecycle import SCOPE
from faultline.issues.models import ActivityLog, Event, Issue, IssueAssignment, IssueFingerprint, IssueUser
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
    Issue.culprit,
)

# Severity sorts by rank (critical first when descending); an issue without one sorts as NULL (last descending).
SEVERITY_RANK = sa.case(
    (Issue.severity == "critical", 4),
    (Issue.severity == "high", 3),
    (Issue.severity == "medium", 2),
    (Issue.severity == "low", 1),
    else_=sa.null(),
)

_ORDER_COLUMNS: dict[str, Any] = {
    "last_seen": Issue.last_seen,
    "severity": SEVERITY_RANK,
    "first_seen": Issue.first_seen,
    "occurrences": Issue.occurrences,
    "users": Issue.users,
    "created_at": Issue.created_at,
}


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
        "culprit": row.culprit,
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
    # `+ 0` also when a user term already named the few candidate issues: they are then fetched by primary key
    # (without statistics SQLite preferred walking the project's index, 100 000 rows, for 9 ids).
    unindexed = scan or query.issue_ids is not None
    project = (Issue.project_id + 0) == project_id if unindexed else Issue.project_id == project_id
    conditions: list[sa.ColumnElement[bool]] = [project]
    if len(query.statuses) == 1:
        conditions.append(Issue.status == query.statuses[0])
    elif query.statuses:
        conditions.append(Issue.status.in_(query.statuses))
    if query.severities:
        conditions.append(Issue.severity.in_(query.severities))
    for term in query.terms:
        # Without `with_search` the FTS index has already applied the terms it answers exactly.
        if with_search or not search.index_exact(term):
            conditions.append(search.match_clause(dialect, term))
    conditions.extend(search.user_clause(dialect, user) for user in query.users)
    if query.issue_ids is not None:
        conditions.append(Issue.id.in_(list(query.issue_ids)))
    conditions.extend(_property_clause(dialect, term) for term in query.properties)
    conditions.extend(tags.filter_clause(project_id, key, values, Issue.id) for key, values in query.tags)
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


def _sorted(rows: Sequence[Any], query: IssueQuery) -> list[Any]:
    """Python twin of `_ordering` for probe rows (id, order value): NULLs last when descending, first when
    ascending; ties by id. One tuple key and `reverse` (C comparisons), not a Python-level comparison per pair."""

    def key(row: Any) -> tuple[Any, ...]:
        value = row[1]
        return (value is not None, value if value is not None else 0, row.id)

    return sorted(rows, key=key, reverse=query.descending)


def _count(session: Session, dialect: str, project_id: int, query: IssueQuery, user_id: int | None) -> int:
    scan = bool(query.terms)
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
    plain = IssueQuery(statuses=query.statuses, terms=query.terms, order_by=query.order_by, descending=query.descending)
    return query == plain and all(search.index_exact(term) for term in query.terms)


def _index_pays(query: IssueQuery) -> bool:
    """Whether the SQLite FTS index should drive this search. "Assigned to …" filters are driven by the (small)
    assignment side instead, testing LIKE on those rows; looking up the assignment of every FTS match costs more
    when the term is common (bench data, active "KeyError" issues assigned to me: 57 ms CPU through the index,
    28 ms from the assignments)."""
    if query.assignee is not None and query.assignee.kind != "unassigned":
        return False
    if query.issue_ids is not None:
        return False  # a user term left a few candidates: testing LIKE on them beats any index walk
    return any(search.indexable(term.text) for term in query.terms)


def _indexed_count(session: Session, project_id: int, query: IssueQuery, user_id: int | None) -> int:
    """Matches counted from the SQLite FTS index (migration 0009), joining `issues` only for filters it lacks."""
    rows = search.search_rows
    matches = search.sqlite_matches(query.terms).where(rows.c.project_id == project_id)
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
    """(id, order value) of up to SEARCH_PROBE + 1 matches: from the FTS index, or a sequential scan.

    Both come back as the driver returns them (on SQLite the stored hex id and fixed-width timestamp text, which sort
    exactly as the database sorts them): turning 2 001 rows into UUID and datetime objects cost more CPU than the
    indexed query itself (bench: ≈ 12 ms of 45 for a large result), and only the page's ids are needed as UUIDs.
    """
    columns = (
        sa.type_coerce(Issue.id, sa.String).label("id"),
        sa.type_coerce(_ORDER_COLUMNS[query.order_by], sa.String).label("value"),
    )
    if indexed:
        # Driven from the index: only matching issues are read (by primary key).
        found = search.sqlite_matches(query.terms).where(search.search_rows.c.project_id == project_id).subquery()
        stmt = sa.select(*columns).select_from(found.join(Issue, Issue.id == found.c.issue_id))
        conditions = issue_conditions(dialect, project_id, query, scan=True, with_search=False)
    else:
        stmt = sa.select(*columns)
        conditions = issue_conditions(dialect, project_id, query, scan=True)
    return _assignee_filter(stmt, query, project_id, user_id).where(*conditions).limit(SEARCH_PROBE + 1)


def _index_probe(session: Session, project_id: int, query: IssueQuery) -> list[Any] | None:
    """The probe for a search the index's row map answers alone (`_only_index_filters`): up to SEARCH_PROBE + 1
    matching ids from the FTS table and `issue_search_rows` only, and `issues` read (by primary key) only when
    that was all of them — a large result then costs its first ids (≈ 1 ms), not a join per probed match.
    None when there are more matches than SEARCH_PROBE."""
    rows = search.search_rows
    matches = search.sqlite_matches(query.terms).where(rows.c.project_id == project_id)
    if query.statuses:
        matches = matches.where(rows.c.status.in_(query.statuses))
    raw_id = sa.type_coerce(rows.c.issue_id, sa.String)
    ids = session.execute(matches.with_only_columns(raw_id).limit(SEARCH_PROBE + 1)).scalars().all()
    if len(ids) > SEARCH_PROBE:
        return None
    if not ids:
        return []
    stored_id = sa.type_coerce(Issue.id, sa.String)
    stmt = sa.select(
        stored_id.label("id"), sa.type_coerce(_ORDER_COLUMNS[query.order_by], sa.String).label("value")
    ).where(stored_id.in_(ids))
    return list(session.execute(stmt).all())


def _as_uuid(value: Any) -> uuid.UUID:
    """A probe's raw id: a UUID from psycopg, 32 hex digits from SQLite."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _page_from_probe(
    session: Session, probe: Sequence[Any], query: IssueQuery, *, limit: int, offset: int, now: dt.datetime
) -> list[dict[str, Any]]:
    ordered = _sorted(probe, query)
    page_ids = [_as_uuid(row.id) for row in ordered[offset : offset + limit]]
    rows = session.execute(sa.select(*ISSUE_COLUMNS).where(Issue.id.in_(page_ids))).all() if page_ids else []
    position = {issue_id: index for index, issue_id in enumerate(page_ids)}
    return _serialize_rows(session, sorted(rows, key=lambda row: position[row.id]), now)


def _few_issue_ids(session: Session, stmt: sa.Select[tuple[uuid.UUID]]) -> set[uuid.UUID] | None:
    """The issue ids `stmt` selects when there are at most SEARCH_PROBE of them (read up to one more), else None."""
    found = set(session.execute(stmt.limit(SEARCH_PROBE + 1)).scalars())
    return found if len(found) <= SEARCH_PROBE else None


def _resolve_users(session: Session, query: IssueQuery) -> IssueQuery:
    """`user:<distinct id>` terms as the (few) issue ids they were seen in, read from the `issue_users`
    (distinct_id) index up front: a literal id list is probed by primary key, where `id IN (subquery)` let SQLite
    walk every issue of the project instead (bench: 330 ms of CPU for 9 matches). A user seen in more issues than
    SEARCH_PROBE, and e-mail terms (which also read events), stay conditions of the query."""
    ids: set[uuid.UUID] | None = None if query.issue_ids is None else set(query.issue_ids)
    kept: list[str] = []
    for user in query.users:
        found = None
        if "@" not in user and is_storable(user):
            found = _few_issue_ids(session, sa.select(IssueUser.issue_id).where(IssueUser.distinct_id == user))
        if found is None:
            kept.append(user)
        else:
            ids = found if ids is None else ids & found
    if len(kept) == len(query.users):
        return query
    return dataclasses.replace(query, users=tuple(kept), issue_ids=tuple(sorted(ids or ())))


def _resolve_tags(session: Session, project_id: int, query: IssueQuery) -> IssueQuery:
    """Tag filters (release, environment, …) that match at most SEARCH_PROBE issues, as those issue ids, read from
    the (project, key, value) index up front. As a subquery, SQLite walked every issue of the project in list order
    testing membership (bench/issue_page.py, 100 k issues: 58 ms for the page of a release seen in one issue, 28 ms
    more for its count); a literal id list is probed by primary key. Wider filters stay conditions, where walking
    in list order finds a page quickly."""
    ids: set[uuid.UUID] | None = None if query.issue_ids is None else set(query.issue_ids)
    kept: list[tuple[str, tuple[str, ...]]] = []
    for key, values in query.tags:
        found = _few_issue_ids(session, tags.issue_ids_stmt(project_id, key, values))
        if found is None:
            kept.append((key, values))
        else:
            ids = found if ids is None else ids & found
    if len(kept) == len(query.tags):
        return query
    return dataclasses.replace(query, tags=tuple(kept), issue_ids=tuple(sorted(ids or ())))


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
    if query.users:
        query = _resolve_users(session, query)
    if query.tags:
        query = _resolve_tags(session, project_id, query)
    if query.terms:
        indexed = dialect == "sqlite" and _index_pays(query) and search.sqlite_index_ready(session)
        # Up to SEARCH_PROBE + 1 matches first: when that is all of them, this one pass answers count and page (the
        # index is read once, where counting first read it twice: 2 × 17 ms for `function:handle_invoice KeyError`
        # on the bench data); a larger result has only paid for its first SEARCH_PROBE + 1 matches.
        if indexed and _only_index_filters(query):
            probe: Sequence[Any] | None = _index_probe(session, project_id, query)
        else:
            probe = session.execute(_probe(dialect, project_id, query, user_id, indexed)).all()
        if probe is not None and len(probe) <= SEARCH_PROBE:
            return len(probe), _page_from_probe(session, probe, query, limit=limit, offset=offset, now=now)
        if indexed:
            total = _indexed_count(session, project_id, query, user_id)
        else:
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
    if issue_id is None:
        stmt = sa.select(IssueFingerprint).where(IssueFingerprint.project_id == project_id)
    else:
        stmt = sa.select(IssueFingerprint).where(
            IssueFingerprint.issue_id == issue_id, check_only(IssueFingerprint.project_id) == project_id
        )
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
    stmt = sa.select(Event).where(Event.issue_id == issue_id, check_only(Event.project_id) == project_id)
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
    same_issue = (Event.issue_id == event.issue_id, check_only(Event.project_id) == project_id)
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
