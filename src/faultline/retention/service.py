"""Retention passes: delete events past `FAULTLINE_RETENTION_DAYS`, keep stored event bytes under
`FAULTLINE_STORAGE_BUDGET`, expire symbol sets unused for `FAULTLINE_SYMBOL_SET_MAX_AGE_DAYS`.

Every deletion is a small transaction (`FAULTLINE_RETENTION_BATCH` events) that also subtracts the deleted bytes
from `project_storage`, so the digest never waits long for the write lock and the budget reading stays exact.
Issue counters (occurrences, users, volume) are never touched: they were counted when the events arrived.

Which events the budget evicts, least valuable first:
1. the largest project (by stored bytes) gives up events first;
2. within it, oldest first (event timestamp), skipping **protected** events — pinned ones (the event that created
   or reopened its issue) and each issue's first and last stored event — and, in the first tier, the **sample**
   (1 event in `SAMPLE_EVERY`, chosen by uuid so every process agrees);
3. only when the first tier has nothing left are sampled events evicted too (oldest first); protected events never.
If protected events alone exceed the budget, the pass stops and says so in the log (the budget is too small).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import Database, table_of, utcnow
from faultline.issues.models import Event
from faultline.retention import partitions, usage
from faultline.symbols.models import SymbolSet

log = logging.getLogger(__name__)

SAMPLE_EVERY = 10  # 1 event in 10 (by uuid) is kept until nothing else of its project can go
SCAN_FACTOR = 4  # candidate rows read per event to delete: protected and sampled ones are skipped


@dataclass(frozen=True)
class Policy:
    retention_days: int = 90  # 0 = keep forever
    storage_budget: int = 0  # bytes; 0 = no budget
    batch: int = 500
    symbol_set_max_age_days: int = 0  # 0 = keep
    # Pause after each delete transaction, as a share of the time it held the write lock: the digest gets the lock
    # in between (SQLite's busy handler polls with growing sleeps, so back-to-back deletes would starve it).
    yield_share: float = 1.0


@dataclass
class PassReport:
    aged_out: int = 0  # with the events of dropped day partitions (PostgreSQL)
    partitions_created: int = 0
    partitions_dropped: int = 0
    evicted: int = 0
    evicted_bytes: int = 0
    symbol_sets: int = 0
    seconds: float = 0.0
    over_budget: bool = False  # protected events alone exceed the budget


@dataclass
class _Cursor:
    """Where the previous eviction scan of a project stopped (timestamp, id), per tier: rescanning the protected
    head of a big project on every batch would cost more than the deletes."""

    after: dict[bool, tuple[dt.datetime, int] | None] = field(default_factory=lambda: {False: None, True: None})


_EVENTS = table_of(Event)
_FIRST_EVENT = (
    sa.select(_EVENTS.c.id)
    .where(_EVENTS.c.issue_id == sa.bindparam("issue"))
    .order_by(_EVENTS.c.timestamp.asc(), _EVENTS.c.id.asc())
    .limit(1)
)
_LAST_EVENT = (
    sa.select(_EVENTS.c.id)
    .where(_EVENTS.c.issue_id == sa.bindparam("issue"))
    .order_by(_EVENTS.c.timestamp.desc(), _EVENTS.c.id.desc())
    .limit(1)
)


def sampled(event_uuid: uuid.UUID) -> bool:
    return event_uuid.int % SAMPLE_EVERY == 0


SymbolSetDeleter = Callable[[Session, int, list[SymbolSet]], int]


class Retention:
    """One retention engine per process; `run_pass()` does one full pass (the background service calls it every
    `FAULTLINE_RETENTION_INTERVAL` seconds; tests and the bench call it directly with an injected clock)."""

    def __init__(
        self,
        db: Database,
        policy: Policy,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        delete_symbol_sets: SymbolSetDeleter | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self.delete_symbol_sets = delete_symbol_sets
        self._cursors: dict[int, _Cursor] = {}
        # Each issue's first and last event ids, read once per pass: events arriving meanwhile only make older events
        # less protected (a stale "last" stays kept until the next pass), and eviction never removes either edge.
        self._edge_cache: dict[uuid.UUID, set[int]] = {}
        self._partitioned: bool | None = None

    @property
    def partitioned(self) -> bool:
        """PostgreSQL with migration 0015's day partitions (asked once: the schema does not change under a process)."""
        if self._partitioned is None:
            self._partitioned = partitions.is_partitioned(self.db)
        return self._partitioned

    # -- the pass ----------------------------------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        started = time.perf_counter()
        report = PassReport()
        self._edge_cache.clear()
        now = self.clock()
        cutoff = now - dt.timedelta(days=self.policy.retention_days) if self.policy.retention_days else None
        if self.partitioned:
            since = cutoff or now - dt.timedelta(days=366)
            report.partitions_created = partitions.prepare(self.db, now, since)
            if cutoff is not None:
                dropped = partitions.drop_before(self.db, cutoff)
                report.partitions_dropped, report.aged_out = dropped.dropped, dropped.events
        if cutoff is not None:  # what no dropped day held: the default partition, the day the cutoff falls in, SQLite
            report.aged_out += self.delete_older_than(cutoff)
        if self.policy.storage_budget:
            report.evicted, report.evicted_bytes, report.over_budget = self.enforce_budget(self.policy.storage_budget)
        if self.policy.symbol_set_max_age_days and self.delete_symbol_sets is not None:
            report.symbol_sets = self.expire_symbol_sets(
                self.clock() - dt.timedelta(days=self.policy.symbol_set_max_age_days)
            )
        report.seconds = time.perf_counter() - started
        return report

    # -- age ---------------------------------------------------------------------------------------------------------

    def delete_older_than(self, cutoff: dt.datetime) -> int:
        """Every event with a timestamp before `cutoff`, project by project, `batch` rows per transaction."""
        with self.db.read() as session:
            projects = [p for p, _, _ in usage.projects_by_size(session)]
        deleted = 0
        for project_id in projects:
            while True:
                with self.db.write() as session:
                    rows = session.execute(
                        sa.select(Event.id, Event.timestamp)
                        .where(Event.project_id == project_id, Event.timestamp < cutoff)
                        .order_by(Event.timestamp)
                        .limit(self.policy.batch)
                    ).all()
                    self._delete(session, project_id, rows)
                deleted += len(rows)
                if len(rows) < self.policy.batch:
                    break
        return deleted

    # -- budget ------------------------------------------------------------------------------------------------------

    def enforce_budget(self, budget: int) -> tuple[int, int, bool]:
        """Evict until stored bytes are at most `budget`: (events evicted, bytes freed, protected events alone are
        over the budget)."""
        evicted = freed = 0
        exhausted: set[tuple[int, bool]] = set()
        while True:
            with self.db.read() as session:
                total = usage.total_bytes(session)
                projects = usage.projects_by_size(session)
            excess = total - budget
            if excess <= 0:
                return evicted, freed, False
            choice = next(
                (
                    (p, tier)
                    for tier in (False, True)
                    for p, size, _ in projects
                    if size > 0 and (p, tier) not in exhausted
                ),
                None,
            )
            if choice is None:
                log.warning(
                    "storage budget %d bytes cannot be met: protected events alone hold %d bytes", budget, total
                )
                return evicted, freed, True
            project_id, with_sample = choice
            with self.db.read() as session:  # choosing reads many rows: no write lock held meanwhile
                victims = self._victims(session, project_id, excess, with_sample)
            if not victims:
                exhausted.add((project_id, with_sample))
                continue
            began = time.perf_counter()
            with self.db.write() as session:
                rows, size = self._delete(session, project_id, victims)
            if self.policy.yield_share:
                time.sleep(min(1.0, (time.perf_counter() - began) * self.policy.yield_share))
            evicted += rows
            freed += size

    def _victims(
        self, session: Session, project_id: int, excess: int, with_sample: bool
    ) -> list[tuple[int, dt.datetime]]:
        """(id, timestamp) of up to `batch` evictable events of the project, oldest first, adding up to at least
        `excess` bytes when there are enough; an empty list means this tier of the project has nothing left to give."""
        cursor = self._cursors.setdefault(project_id, _Cursor())
        restarted = cursor.after[with_sample] is None
        scan = self.policy.batch * SCAN_FACTOR
        while True:
            after = cursor.after[with_sample]
            t = _EVENTS.c
            stmt = sa.select(t.id, t.size_bytes, t.uuid, t.issue_id, t.timestamp).where(
                t.project_id == project_id, t.pinned.is_(False)
            )
            if after is not None:
                stmt = stmt.where(sa.or_(t.timestamp > after[0], sa.and_(t.timestamp == after[0], t.id > after[1])))
            candidates = session.connection().execute(stmt.order_by(t.timestamp, t.id).limit(scan)).all()
            protected = self._edges(session, {row.issue_id for row in candidates})
            victims: list[tuple[int, dt.datetime]] = []
            freed = 0
            for row in candidates:
                cursor.after[with_sample] = (row.timestamp, row.id)
                if row.id in protected or (not with_sample and sampled(row.uuid)):
                    continue
                victims.append((row.id, row.timestamp))
                freed += int(row.size_bytes)
                if freed >= excess or len(victims) >= self.policy.batch:
                    return victims
            if victims:
                return victims
            if len(candidates) < scan:  # the end of the project: next time from its oldest event again
                cursor.after[with_sample] = None
                if restarted:
                    return []
                restarted = True  # events before the cursor may have lost their protection (no longer last)

    def _edges(self, session: Session, issue_ids: set[uuid.UUID]) -> set[int]:
        """Ids of the first and the last stored event of each issue (index probes on (issue_id, timestamp); Core
        statements, since a pass asks for thousands of them)."""
        edges: set[int] = set()
        connection = session.connection()
        for issue_id in issue_ids:
            known = self._edge_cache.get(issue_id)
            if known is None:
                known = set()
                for stmt in (_FIRST_EVENT, _LAST_EVENT):
                    known.update(connection.execute(stmt, {"issue": issue_id}).scalars())
                self._edge_cache[issue_id] = known
            edges |= known
        return edges

    @staticmethod
    def _delete(session: Session, project_id: int, rows: Sequence[tuple[int, dt.datetime]]) -> tuple[int, int]:
        """Delete events by (id, timestamp): (rows, bytes) really deleted (another process may have taken some),
        subtracted from the project's usage in the same transaction. The timestamps' span lets PostgreSQL look the
        ids up in those days' partitions only."""
        if not rows:
            return 0, 0
        ids = [row[0] for row in rows]
        first, last = min(row[1] for row in rows), max(row[1] for row in rows)
        deleted = session.execute(
            sa.delete(Event).where(Event.id.in_(ids), Event.timestamp.between(first, last)).returning(Event.size_bytes)
        ).scalars()
        sizes = [int(size) for size in deleted]
        usage.add(session, project_id, -sum(sizes), -len(sizes))
        return len(sizes), sum(sizes)

    # -- symbol sets -------------------------------------------------------------------------------------------------

    def expire_symbol_sets(self, cutoff: dt.datetime) -> int:
        """Symbol sets whose last use (or upload, if never used) is before `cutoff`, with their blobs."""
        assert self.delete_symbol_sets is not None
        deleted = 0
        while True:
            with self.db.write() as session:
                sets = list(
                    session.execute(
                        sa.select(SymbolSet)
                        .where(sa.func.coalesce(SymbolSet.last_used, SymbolSet.created_at) < cutoff)
                        .order_by(SymbolSet.project_id)
                        .limit(self.policy.batch)
                    ).scalars()
                )
                by_project: dict[int, list[SymbolSet]] = {}
                for symbol_set in sets:
                    by_project.setdefault(symbol_set.project_id, []).append(symbol_set)
                for project_id, project_sets in by_project.items():
                    deleted += self.delete_symbol_sets(session, project_id, project_sets)
            if len(sets) < self.policy.batch:
                return deleted
