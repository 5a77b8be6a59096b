"""Stage 5 (spec §5.1, §5.10): write events, per-issue aggregates and stack frames — batch Core SQL only.

Counters are derived from the rows the event INSERT actually returned (ON CONFLICT DO NOTHING RETURNING), so a
redelivered batch, or two workers racing on one event, can never count an event twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import UTCDateTime, check_only, excluded_of, insert_for, table_of, upsert, where_key_in
from faultline.ids import uuid7
from faultline.issues import tags
from faultline.issues.aggregates import day_floor, hour_floor
from faultline.issues.models import Event, Issue, IssueUser, IssueVolumeDaily, IssueVolumeHourly
from faultline.symbols.models import StackFrame

_CHUNK = 500


@dataclass
class EventRow:
    uuid: UUID
    project_id: int
    issue_id: UUID
    fingerprint: str
    timestamp: dt.datetime
    received_at: dt.datetime
    distinct_id: str | None
    lib: str | None
    lib_version: str | None
    level: str | None
    properties: dict[str, Any]
    pinned: bool = False
    size_bytes: int = 0
    browser: str | None = None
    os: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.size_bytes:
            self.size_bytes = event_size(self.properties)

    def as_row(self) -> dict[str, Any]:
        return self.__dict__.copy()


# What a row costs besides its properties: ids, fingerprint, times, indexes (an estimate; the budget is about the
# properties, which are nearly all of an event's bytes).
ROW_OVERHEAD_BYTES = 200


def event_size(properties: dict[str, Any]) -> int:
    """The stored size of an event: its properties as JSON plus the row overhead."""
    return ROW_OVERHEAD_BYTES + len(orjson.dumps(properties, default=str, option=orjson.OPT_NON_STR_KEYS))


# How far around a batch's timestamps a uuid is looked for on PostgreSQL, whose events are partitioned by day
# (migration 0015): an SDK retrying a batch re-sends its events with timestamps corrected by the new `sent_at`,
# milliseconds or at worst hours apart, never days.
DUPLICATE_WINDOW = dt.timedelta(days=1)


def existing_uuids(
    session: Session, project_id: int, uuids: Sequence[uuid.UUID], timestamps: Sequence[dt.datetime] = ()
) -> set[uuid.UUID]:
    """The duplicate check of every batch: probes the unique (project_id, uuid) index only (see `where_key_in`),
    never a range over the project's events, however many it has and whatever the statistics say.

    On PostgreSQL the batch's `timestamps` keep the probes to the day partitions around them, and the key there is
    (uuid, project_id, timestamp): the project is only checked (`check_only`), so no partition is read through its
    (project_id, timestamp) index, which the window would otherwise make look as good without statistics."""
    table = table_of(Event)
    dialect = session.get_bind().dialect.name
    where = [table.c.project_id == project_id]
    if dialect == "postgresql" and timestamps:
        where = [
            check_only(table.c.project_id) == project_id,
            table.c.timestamp.between(min(timestamps) - DUPLICATE_WINDOW, max(timestamps) + DUPLICATE_WINDOW),
        ]
    found: set[uuid.UUID] = set()
    for start in range(0, len(uuids), _CHUNK):
        chunk = list(uuids[start : start + _CHUNK])
        stmt = where_key_in(dialect, sa.select(table.c.uuid).where(*where), table.c.uuid, chunk)
        found.update(r[0] for r in session.execute(stmt))
    return found


def insert_events(session: Session, rows: Sequence[EventRow]) -> list[EventRow]:
    """The rows really inserted (others were already stored)."""
    if not rows:
        return []
    table = table_of(Event)
    result = upsert(
        session,
        table,
        [r.as_row() for r in rows],
        # Any key: (project_id, uuid) on SQLite, (uuid, project_id, timestamp) on PostgreSQL's partitioned table
        # (migration 0015); the primary key cannot conflict (a sequence).
        index_elements=None,
        returning=[table.c.project_id, table.c.uuid],
    )
    inserted = {(r.project_id, r.uuid) for r in result} if result is not None else set()
    return [r for r in rows if (r.project_id, r.uuid) in inserted]


@functools.cache
def _increment_stmt(dialect_name: str, table: sa.Table, keys: tuple[str, ...]) -> Any:
    """Built once per table: statements are immutable, and reusing one also reuses its memoised cache key; every
    digest batch runs these (bench/routing.py --profile)."""
    stmt = insert_for(dialect_name, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={"count": table.c["count"] + excluded_of(table)["count"]}
    )


def _increment(session: Session, table: sa.Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    session.execute(_increment_stmt(session.get_bind().dialect.name, table, tuple(keys)), rows)


@functools.cache
def _issue_users_stmt(dialect_name: str) -> Any:
    table = table_of(IssueUser)
    stmt = insert_for(dialect_name, table).on_conflict_do_nothing(index_elements=["issue_id", "distinct_id"])
    return stmt.returning(table.c.issue_id, table.c.distinct_id)


@functools.cache
def _issue_counters_stmt() -> sa.Update:
    """The per-batch UPDATE of the issues' counters and first/last seen: ~0.3 ms to build (its CASE expressions and
    typed bind parameters), so it is built once; it holds only bind parameters, nothing of a batch."""
    issues = table_of(Issue)
    first = sa.bindparam("b_first", type_=UTCDateTime())
    last = sa.bindparam("b_last", type_=UTCDateTime())
    return (
        sa.update(issues)
        .where(issues.c.id == sa.bindparam("b_id"))
        .values(
            occurrences=issues.c.occurrences + sa.bindparam("b_n"),
            users=issues.c.users + sa.bindparam("b_u"),
            first_seen=sa.case(
                (sa.or_(issues.c.first_seen.is_(None), issues.c.first_seen > first), first), else_=issues.c.first_seen
            ),
            last_seen=sa.case(
                (sa.or_(issues.c.last_seen.is_(None), issues.c.last_seen < last), last), else_=issues.c.last_seen
            ),
        )
    )


def update_aggregates(session: Session, stored: Sequence[EventRow]) -> None:
    """issues.first_seen/last_seen/occurrences/users, hourly/daily volume and distinct users, for stored rows."""
    if not stored:
        return
    per_issue: dict[uuid.UUID, dict[str, Any]] = {}
    hourly: dict[tuple[uuid.UUID, dt.datetime], int] = defaultdict(int)
    daily: dict[tuple[uuid.UUID, dt.datetime], int] = defaultdict(int)
    users: set[tuple[uuid.UUID, str]] = set()
    for row in stored:
        agg = per_issue.setdefault(row.issue_id, {"n": 0, "first": row.timestamp, "last": row.timestamp, "u": 0})
        agg["n"] += 1
        agg["first"] = min(agg["first"], row.timestamp)
        agg["last"] = max(agg["last"], row.timestamp)
        hourly[(row.issue_id, hour_floor(row.timestamp))] += 1
        daily[(row.issue_id, day_floor(row.timestamp))] += 1
        if row.distinct_id:
            users.add((row.issue_id, row.distinct_id))

    if users:
        for issue_id, *_ in session.execute(
            _issue_users_stmt(session.get_bind().dialect.name),
            [{"issue_id": i, "distinct_id": d} for i, d in sorted(users, key=lambda x: (str(x[0]), x[1]))],
        ):
            per_issue[issue_id]["u"] += 1

    _increment(
        session,
        table_of(IssueVolumeHourly),
        ["issue_id", "bucket"],
        [{"issue_id": i, "bucket": b, "count": n} for (i, b), n in sorted(hourly.items(), key=lambda x: str(x[0]))],
    )
    _increment(
        session,
        table_of(IssueVolumeDaily),
        ["issue_id", "bucket"],
        [{"issue_id": i, "bucket": b, "count": n} for (i, b), n in sorted(daily.items(), key=lambda x: str(x[0]))],
    )

    tags.record(session, ((r.project_id, r.issue_id, r.timestamp, tags.tags_of(r.properties, r.level)) for r in stored))

    # Sorted by id: concurrent PostgreSQL workers then lock issue rows in one global order (no deadlocks).
    params = [
        {"b_id": issue_id, "b_n": a["n"], "b_u": a["u"], "b_first": a["first"], "b_last": a["last"]}
        for issue_id, a in sorted(per_issue.items(), key=lambda x: str(x[0]))
    ]
    session.connection().execute(_issue_counters_stmt(), params)


class RecentFrames:
    """Process-wide memory of stack-frame rows written recently, so a frame seen in every event is upserted once
    per TTL instead of once per batch (cymbal keeps a 10-minute frame cache for the same reason)."""

    def __init__(self, ttl_seconds: float = 600.0, max_entries: int = 200_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._seen: dict[tuple[int, str, int], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def fresh(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        now = time.monotonic()
        out = []
        with self._lock:
            for row in rows:
                key = (row["project_id"], row["raw_id"], row["part"])
                signature = hash((row["resolved"], repr(sorted(row["contents"].items()))))
                hit = self._seen.get(key)
                if hit is not None and hit[0] == signature and hit[1] > now:
                    continue
                out.append(row)
        return out

    def remember(self, rows: Sequence[dict[str, Any]]) -> None:
        expires = time.monotonic() + self.ttl
        with self._lock:
            if len(self._seen) + len(rows) > self.max_entries:
                self._seen.clear()
            for row in rows:
                key = (row["project_id"], row["raw_id"], row["part"])
                self._seen[key] = (hash((row["resolved"], repr(sorted(row["contents"].items())))), expires)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def upsert_frames(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Latest resolution wins (PostHog updates the cached frame on conflict)."""
    if not rows:
        return
    now = dt.datetime.now(dt.UTC)
    unique: dict[tuple[int, str, int], dict[str, Any]] = {}
    for row in rows:
        unique[(row["project_id"], row["raw_id"], row["part"])] = {"id": uuid7(), **row, "created_at": now}
    upsert(
        session,
        table_of(StackFrame),
        [r for _, r in sorted(unique.items())],
        index_elements=["project_id", "raw_id", "part"],
        update=["contents", "resolved", "context", "symbol_set_id", "created_at"],
    )
