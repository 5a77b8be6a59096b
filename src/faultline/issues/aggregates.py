"""Per-issue aggregates: what the issue list shows without ever scanning events.

The digest worker maintains them incrementally per batch (`issues.first_seen/last_seen/occurrences/users`,
`issue_volume_hourly/daily`, `issue_users`, and the search columns on creation). Merge and split move events between
issues, so the totals must follow:

* merge combines the aggregate rows directly (sums per bucket, union of users): cost proportional to the number of
  buckets and users, not events;
* split and repairs re-derive an issue's aggregates from its stored events with `recompute`.

Both give the same numbers whenever the aggregates were consistent with the events to begin with; the tests check
exactly that.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import insert_for
from faultline.issues import tags
from faultline.issues.culprit import culprit_of
from faultline.issues.models import Event, Issue, IssueFingerprint, IssueUser, IssueVolumeDaily, IssueVolumeHourly
from faultline.issues.sanitize import clean_text

# Each search column keeps at most this many characters: enough for a chain of long messages, small enough that a
# substring scan over 100 000 issues stays cheap.
SEARCH_COLUMN_MAX = 2000
SEARCH_SEPARATOR = "\n"

HOURLY_BUCKETS = 24
DAILY_BUCKETS = 14


def _join_distinct(parts: Iterable[Any], limit: int = SEARCH_COLUMN_MAX) -> str | None:
    kept: list[str] = []
    length = 0
    for part in parts:
        if not isinstance(part, str):
            continue
        text = clean_text(part.replace(SEARCH_SEPARATOR, " ").strip())
        if not text or text in kept:
            continue
        separator = len(SEARCH_SEPARATOR) if kept else 0
        room = limit - length - separator
        if room <= 0:
            break
        text = text[:room]
        kept.append(text)
        length += separator + len(text)
    return SEARCH_SEPARATOR.join(kept) if kept else None


def search_columns(
    types: Sequence[Any] | None,
    values: Sequence[Any] | None,
    exception_list: Any = None,
) -> dict[str, str | None]:
    """The search columns for an issue from one event: `$exception_types` / `$exception_values` and the function and
    file names of the frames of `$exception_list` (what the digest worker passes when it creates an issue).
    Anything of the wrong shape is ignored."""
    functions, sources = frame_names(exception_list)
    return {
        "exception_types": _join_distinct(types if isinstance(types, list | tuple) else ()),
        "exception_values": _join_distinct(values if isinstance(values, list | tuple) else ()),
        "exception_functions": _join_distinct(functions),
        "exception_sources": _join_distinct(sources),
    }


def frame_names(exception_list: Any) -> tuple[list[str], list[str]]:
    """Function and file names of every frame of every exception in the chain, in-app frames first (they are the
    ones people search for, and the column is capped), each list in order of appearance."""
    frames: list[Any] = []
    if isinstance(exception_list, list):
        for exc in exception_list[:50]:
            stack = exc.get("stacktrace") if isinstance(exc, dict) else None
            found = stack.get("frames") if isinstance(stack, dict) else None
            if isinstance(found, list):
                frames.extend(f for f in found[:500] if isinstance(f, dict))
    ordered = [f for f in frames if f.get("in_app") is True] + [f for f in frames if f.get("in_app") is not True]
    functions = [f.get("resolved_name") or f.get("mangled_name") or f.get("function") for f in ordered]
    sources = [f.get("source") or f.get("filename") for f in ordered]
    return [n for n in functions if isinstance(n, str)], [s for s in sources if isinstance(s, str)]


def combine_search_columns(*columns: str | None) -> str | None:
    """Union of several stored search columns (merge keeps every source's types and messages searchable)."""
    parts: list[str] = []
    for column in columns:
        if column:
            parts.extend(column.split(SEARCH_SEPARATOR))
    return _join_distinct(parts)


def hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket_expr(dialect: str, column: Any, unit: str) -> Any:
    """SQL that truncates a UTC timestamp column to the hour or day (returned as text on SQLite)."""
    if dialect == "postgresql":
        return sa.func.date_trunc(unit, sa.func.timezone("UTC", column))
    fmt = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
    return sa.func.strftime(fmt, column)


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _rebuild_volume(session: Session, issue_id: uuid.UUID, table: sa.Table, unit: str) -> None:
    dialect = session.get_bind().dialect.name
    session.execute(sa.delete(table).where(table.c.issue_id == issue_id))
    bucket = _bucket_expr(dialect, Event.timestamp, unit).label("bucket")
    rows = session.execute(sa.select(bucket, sa.func.count()).where(Event.issue_id == issue_id).group_by(bucket)).all()
    if rows:
        session.execute(
            sa.insert(table), [{"issue_id": issue_id, "bucket": _as_utc(b), "count": int(n)} for b, n in rows]
        )


def recompute(session: Session, issue_ids: Iterable[uuid.UUID]) -> None:
    """Re-derive the aggregates of each issue from its stored events (and its fingerprints' first_seen).

    first_seen is the earliest of the first event and the fingerprints' first_seen (PostHog derives it from the
    fingerprints; ours also survives events being deleted by retention). An issue without events keeps
    last_seen = NULL and zero counts.
    """
    for issue_id in dict.fromkeys(issue_ids):
        count, first_event, last_event = session.execute(
            sa.select(sa.func.count(), sa.func.min(Event.timestamp), sa.func.max(Event.timestamp)).where(
                Event.issue_id == issue_id
            )
        ).one()
        fingerprint_first = session.execute(
            sa.select(sa.func.min(IssueFingerprint.first_seen)).where(IssueFingerprint.issue_id == issue_id)
        ).scalar_one()
        candidates = [_as_utc(v) for v in (first_event, fingerprint_first) if v is not None]

        users_table = IssueUser.__table__
        session.execute(sa.delete(users_table).where(users_table.c.issue_id == issue_id))
        session.execute(
            sa.insert(users_table).from_select(
                ["issue_id", "distinct_id"],
                sa.select(Event.issue_id, Event.distinct_id)
                .where(Event.issue_id == issue_id, Event.distinct_id.is_not(None))
                .group_by(Event.issue_id, Event.distinct_id),
            )
        )
        users = session.execute(
            sa.select(sa.func.count()).select_from(users_table).where(users_table.c.issue_id == issue_id)
        ).scalar_one()
        _rebuild_volume(session, issue_id, IssueVolumeHourly.__table__, "hour")
        _rebuild_volume(session, issue_id, IssueVolumeDaily.__table__, "day")
        values: dict[str, Any] = {
            "occurrences": int(count),
            "users": int(users),
            "first_seen": min(candidates) if candidates else None,
            "last_seen": _as_utc(last_event) if last_event is not None else None,
        }
        if count:
            values.update(_missing_search_columns(session, issue_id))
        tags.rebuild(session, [issue_id])
        session.execute(sa.update(Issue).where(Issue.id == issue_id).values(**values))


def _missing_search_columns(session: Session, issue_id: uuid.UUID) -> dict[str, str | None]:
    """Search columns for an issue that has none yet (one created by a split), from its newest event. Existing
    columns are kept: after a merge they hold every merged issue's types and messages."""
    current = session.execute(
        sa.select(Issue.exception_types, Issue.exception_values, Issue.exception_functions, Issue.culprit).where(
            Issue.id == issue_id
        )
    ).one_or_none()
    if current is None or current.exception_types or current.exception_values or current.exception_functions:
        return {}
    properties = session.execute(
        sa.select(Event.properties)
        .where(Event.issue_id == issue_id)
        .order_by(Event.timestamp.desc(), Event.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if not isinstance(properties, dict):
        return {}
    types, values = properties.get("$exception_types"), properties.get("$exception_values")
    found = search_columns(
        types if isinstance(types, list) else None,
        values if isinstance(values, list) else None,
        properties.get("$exception_list"),
    )
    return {**found, "culprit": current.culprit or culprit_of(properties.get("$exception_list"))}


def merge_into(session: Session, target_id: uuid.UUID, source_ids: Sequence[uuid.UUID]) -> None:
    """Fold the sources' aggregates into the target's (call before the sources are deleted)."""
    if not source_ids:
        return
    dialect = session.get_bind().dialect.name
    for table in (IssueVolumeHourly.__table__, IssueVolumeDaily.__table__):
        select = (
            sa.select(sa.literal(target_id, table.c.issue_id.type), table.c.bucket, sa.func.sum(table.c.count))
            .where(table.c.issue_id.in_(source_ids))
            .group_by(table.c.bucket)
        )
        stmt = insert_for(dialect, table).from_select(["issue_id", "bucket", "count"], select)
        stmt = stmt.on_conflict_do_update(
            index_elements=["issue_id", "bucket"], set_={"count": table.c.count + stmt.excluded["count"]}
        )
        session.execute(stmt)

    users_table = IssueUser.__table__
    select_users = (
        sa.select(sa.literal(target_id, users_table.c.issue_id.type), users_table.c.distinct_id)
        .where(users_table.c.issue_id.in_(source_ids))
        .group_by(users_table.c.distinct_id)
    )
    session.execute(
        insert_for(dialect, users_table)
        .from_select(["issue_id", "distinct_id"], select_users)
        .on_conflict_do_nothing(index_elements=["issue_id", "distinct_id"])
    )

    tags.merge_into(session, target_id, source_ids)

    ids = [target_id, *source_ids]
    occurrences, first_seen, last_seen = session.execute(
        sa.select(sa.func.sum(Issue.occurrences), sa.func.min(Issue.first_seen), sa.func.max(Issue.last_seen)).where(
            Issue.id.in_(ids)
        )
    ).one()
    search = session.execute(
        sa.select(
            Issue.id, Issue.exception_types, Issue.exception_values, Issue.exception_functions, Issue.exception_sources
        ).where(Issue.id.in_(ids))
    ).all()
    ordered = sorted(search, key=lambda row: 0 if row.id == target_id else 1)
    users = session.execute(
        sa.select(sa.func.count()).select_from(users_table).where(users_table.c.issue_id == target_id)
    ).scalar_one()
    session.execute(
        sa.update(Issue)
        .where(Issue.id == target_id)
        .values(
            occurrences=int(occurrences or 0),
            users=int(users),
            first_seen=first_seen,
            last_seen=last_seen,
            exception_types=combine_search_columns(*(row.exception_types for row in ordered)),
            exception_values=combine_search_columns(*(row.exception_values for row in ordered)),
            exception_functions=combine_search_columns(*(row.exception_functions for row in ordered)),
            exception_sources=combine_search_columns(*(row.exception_sources for row in ordered)),
        )
    )


def _slot_expr(dialect: str, column: Any, start: dt.datetime, seconds: int) -> Any:
    """Index of a bucket counted from `start`, computed by the database: parsing hundreds of timestamps in Python
    per page costs more than the query itself."""
    if dialect == "postgresql":
        elapsed = sa.extract("epoch", column - sa.bindparam("slot_start", start, type_=column.type))
        return sa.cast(sa.func.floor((elapsed + 0.5) / seconds), sa.Integer)
    return sa.cast(
        (sa.func.julianday(column) - sa.func.julianday(sa.bindparam("slot_start", start, type_=column.type)))
        * (86400 / seconds)
        + 0.5,
        sa.Integer,
    )


def volume_series(
    session: Session, issue_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, tuple[list[int], list[int]]]:
    """Sparkline data per issue: 24 hourly counts and 14 daily counts, oldest first, ending with the current
    hour/day (buckets without events are zeros)."""
    if not issue_ids:
        return {}
    dialect = session.get_bind().dialect.name
    hour_start = hour_floor(now) - dt.timedelta(hours=HOURLY_BUCKETS - 1)
    day_start = day_floor(now) - dt.timedelta(days=DAILY_BUCKETS - 1)
    series = {issue_id: ([0] * HOURLY_BUCKETS, [0] * DAILY_BUCKETS) for issue_id in issue_ids}
    # Ids come back as stored (hex text on SQLite, uuid on PostgreSQL) and are matched without parsing each row.
    by_hex = {issue_id.hex: issue_id for issue_id in issue_ids}
    for table, start, seconds, slot in (
        (IssueVolumeHourly.__table__, hour_start, 3600, 0),
        (IssueVolumeDaily.__table__, day_start, 86400, 1),
    ):
        rows = session.execute(
            sa.select(
                sa.type_coerce(table.c.issue_id, sa.String),
                _slot_expr(dialect, table.c.bucket, start, seconds),
                table.c["count"],
            ).where(table.c.issue_id.in_(list(issue_ids)), table.c.bucket >= start)
        ).all()
        for key, index, count in rows:
            issue_id = by_hex.get(key) if isinstance(key, str) else key
            if issue_id is None or issue_id not in series:
                continue
            values = series[issue_id][slot]
            if 0 <= index < len(values):
                values[index] += int(count)
    return series
