"""Issue tags: per issue, the release, environment and level values of its events, with counts and first/last seen.

Kept by the digest worker next to the other aggregates (`record`), folded on merge (`merge_into`) and re-derived
from the events after a split (`rebuild`). They are what "first seen in", "seen in releases", the Releases page and
the list's release / environment / level filters read: an index lookup, never a pass over events (which have no
per-property index). High-cardinality facts (URL, browser…) are not tags: the issue page's breakdowns sample the
issue's most recent events instead (`faultline.issues.breakdowns`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import excluded_of, insert_for, table_of
from faultline.issues.models import Event, IssueTag

RELEASE = "release"
ENVIRONMENT = "environment"
LEVEL = "level"
KEYS = (RELEASE, ENVIRONMENT, LEVEL)
MAX_VALUE = 200
# Where SDKs put them: PostHog's resolved release (from the symbol set), posthog-js/-python `$app_version`, a Sentry
# event's `release` / `environment` (kept as properties by the Sentry ingestion), and explicit `$release`.
RELEASE_PROPERTIES = ("$app_version", "$release", "release")
ENVIRONMENT_PROPERTIES = ("$environment", "environment")


def _clean(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:MAX_VALUE] if value else None


def release_of(properties: Mapping[str, Any]) -> str | None:
    """The release an event was sent from, if it says."""
    resolved = properties.get("$exception_release")
    if isinstance(resolved, Mapping):
        found = _clean(resolved.get("version"))
        if found:
            return found
    for key in RELEASE_PROPERTIES:
        found = _clean(properties.get(key))
        if found:
            return found
    return None


def environment_of(properties: Mapping[str, Any]) -> str | None:
    for key in ENVIRONMENT_PROPERTIES:
        found = _clean(properties.get(key))
        if found:
            return found
    return None


def tags_of(properties: Mapping[str, Any], level: str | None) -> list[tuple[str, str]]:
    found = [(RELEASE, release_of(properties)), (ENVIRONMENT, environment_of(properties)), (LEVEL, _clean(level))]
    return [(key, value) for key, value in found if value]


@dataclass
class _Agg:
    project_id: int
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime


@functools.cache
def _upsert_stmt(dialect_name: str) -> Any:
    """Built once per dialect (every digest batch runs it; building its CASE expressions cost more than running it)."""
    table = table_of(IssueTag)
    stmt = insert_for(dialect_name, table)
    excluded = excluded_of(table)
    return stmt.on_conflict_do_update(
        index_elements=["issue_id", "key", "value"],
        set_={
            "count": table.c["count"] + excluded["count"],
            "first_seen": sa.case(
                (excluded.first_seen < table.c.first_seen, excluded.first_seen), else_=table.c.first_seen
            ),
            "last_seen": sa.case((excluded.last_seen > table.c.last_seen, excluded.last_seen), else_=table.c.last_seen),
        },
    )


def _upsert(session: Session, aggregated: Mapping[tuple[uuid.UUID, str, str], _Agg]) -> None:
    if not aggregated:
        return
    stmt = _upsert_stmt(session.get_bind().dialect.name)
    # Sorted: concurrent PostgreSQL workers lock rows in one global order.
    rows = [
        {
            "issue_id": issue_id,
            "key": key,
            "value": value,
            "project_id": agg.project_id,
            "count": agg.count,
            "first_seen": agg.first_seen,
            "last_seen": agg.last_seen,
        }
        for (issue_id, key, value), agg in sorted(aggregated.items(), key=lambda item: (str(item[0][0]), *item[0][1:]))
    ]
    session.execute(stmt, rows)


def record(session: Session, events: Iterable[tuple[int, uuid.UUID, dt.datetime, Sequence[tuple[str, str]]]]) -> None:
    """Count stored events: (project id, issue id, timestamp, tags) each."""
    aggregated: dict[tuple[uuid.UUID, str, str], _Agg] = {}
    for project_id, issue_id, timestamp, pairs in events:
        for key, value in pairs:
            agg = aggregated.get((issue_id, key, value))
            if agg is None:
                aggregated[(issue_id, key, value)] = _Agg(project_id, 1, timestamp, timestamp)
            else:
                agg.count += 1
                agg.first_seen = min(agg.first_seen, timestamp)
                agg.last_seen = max(agg.last_seen, timestamp)
    _upsert(session, aggregated)


def merge_into(session: Session, target_id: uuid.UUID, source_ids: Sequence[uuid.UUID]) -> None:
    """Fold the sources' tags into the target's (before the sources are deleted)."""
    if not source_ids:
        return
    table = table_of(IssueTag)
    rows = session.execute(sa.select(table).where(table.c.issue_id.in_(list(source_ids)))).all()
    aggregated: dict[tuple[uuid.UUID, str, str], _Agg] = {}
    for row in rows:
        key = (target_id, row.key, row.value)
        agg = aggregated.get(key)
        if agg is None:
            aggregated[key] = _Agg(row.project_id, int(row.count), row.first_seen, row.last_seen)
        else:
            agg.count += int(row.count)
            agg.first_seen = min(agg.first_seen, row.first_seen)
            agg.last_seen = max(agg.last_seen, row.last_seen)
    _upsert(session, aggregated)


def rebuild(session: Session, issue_ids: Iterable[uuid.UUID]) -> None:
    """Re-derive the tags of each issue from its stored events (after a split moved some of them away)."""
    table = table_of(IssueTag)
    for issue_id in dict.fromkeys(issue_ids):
        session.execute(sa.delete(table).where(table.c.issue_id == issue_id))
        stmt = sa.select(Event.project_id, Event.timestamp, Event.level, Event.properties).where(
            Event.issue_id == issue_id
        )
        record(
            session,
            (
                (row.project_id, issue_id, row.timestamp, tags_of(row.properties or {}, row.level))
                for row in session.execute(stmt.execution_options(yield_per=1000))
            ),
        )


# -- reads -----------------------------------------------------------------------------------------------------


def issue_tags(session: Session, issue_id: uuid.UUID, key: str, limit: int = 100) -> list[dict[str, Any]]:
    """One issue's values of `key`, the most recently seen first (the primary key's prefix: an index range)."""
    rows = session.execute(
        sa.select(IssueTag.value, IssueTag.count, IssueTag.first_seen, IssueTag.last_seen)
        .where(IssueTag.issue_id == issue_id, IssueTag.key == key)
        .order_by(IssueTag.last_seen.desc())
        .limit(limit)
    ).all()
    return [
        {"value": r.value, "count": int(r.count), "first_seen": r.first_seen, "last_seen": r.last_seen} for r in rows
    ]


def first_seen_in(values: Sequence[Mapping[str, Any]]) -> str | None:
    return min(values, key=lambda v: v["first_seen"])["value"] if values else None


def project_values(session: Session, project_id: int, key: str, limit: int = 500) -> list[dict[str, Any]]:
    """A project's values of `key` with the number of issues and events seen in each, newest first.

    Issues *new* in a value are those whose first tag of that key is in it. One pass over the project's rows of
    that key (one per issue and value) through ix_issue_tags_project_key_value.
    """
    table = table_of(IssueTag)
    rows = session.execute(
        sa.select(
            table.c.value,
            sa.func.count().label("issues"),
            sa.func.sum(table.c["count"]).label("events"),
            sa.func.min(table.c.first_seen).label("first_seen"),
            sa.func.max(table.c.last_seen).label("last_seen"),
        )
        .where(table.c.project_id == project_id, table.c.key == key)
        .group_by(table.c.value)
        .order_by(sa.func.min(table.c.first_seen).desc())
        .limit(limit)
    ).all()
    return [
        {
            "value": r.value,
            "issues": int(r.issues),
            "events": int(r.events or 0),
            "first_seen": r.first_seen,
            "last_seen": r.last_seen,
        }
        for r in rows
    ]


def new_issue_counts(session: Session, project_id: int, key: str) -> dict[str, int]:
    """Per value, how many issues were first seen in it (the earliest tag of that key of each issue)."""
    table = table_of(IssueTag)
    first = (
        sa.select(table.c.issue_id, sa.func.min(table.c.first_seen).label("first"))
        .where(table.c.project_id == project_id, table.c.key == key)
        .group_by(table.c.issue_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(table.c.value, sa.func.count())
        .join(first, sa.and_(first.c.issue_id == table.c.issue_id, first.c.first == table.c.first_seen))
        .where(table.c.project_id == project_id, table.c.key == key)
        .group_by(table.c.value)
    ).all()
    return {value: int(n) for value, n in rows}


def issue_releases(session: Session, issue_id: uuid.UUID, regressed_in: str | None) -> dict[str, Any]:
    found = issue_tags(session, issue_id, RELEASE)
    return {"first_seen_in": first_seen_in(found), "regressed_in": regressed_in, "releases": found}


def seen_releases(session: Session, project_id: int) -> list[dict[str, Any]]:
    new = new_issue_counts(session, project_id, RELEASE)
    return [
        {
            "version": row["value"],
            "issues": row["issues"],
            "new_issues": new.get(row["value"], 0),
            "events": row["events"],
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        }
        for row in project_values(session, project_id, RELEASE)
    ]


def issue_ids_stmt(project_id: int, key: str, values: Sequence[str]) -> sa.Select[tuple[uuid.UUID]]:
    """Ids of the issues having one of `values` for `key` (an index range per value)."""
    table = table_of(IssueTag)
    return sa.select(table.c.issue_id).where(
        table.c.project_id == project_id, table.c.key == key, table.c.value.in_(list(values))
    )


def filter_clause(project_id: int, key: str, values: Sequence[str], issue_id_column: Any) -> sa.ColumnElement[bool]:
    """Issues having one of `values` for `key`."""
    return issue_id_column.in_(issue_ids_stmt(project_id, key, values))


def known_values(session: Session, project_id: int, key: str, limit: int = 200) -> list[str]:
    """Distinct values of `key` in the project (for filter menus), most recently seen first."""
    table = table_of(IssueTag)
    rows = session.execute(
        sa.select(table.c.value)
        .where(table.c.project_id == project_id, table.c.key == key)
        .group_by(table.c.value)
        .order_by(sa.func.max(table.c.last_seen).desc())
        .limit(limit)
    ).scalars()
    return list(rows)
