"""Late symbols: when a symbol set arrives after the events that needed it, fix those events.

Uploading (or re-uploading) a set queues a `symbol_repair` job in `background_jobs`. The job walks the project's
events of the last N days (FAULTLINE_SYMBOL_REPAIR_DAYS) whose frames reference the set's ref, re-resolves those
frames (the raw frame travels in each resolved frame's `junk_drawer.raw_frame`), recomputes the metadata and —
unless the event was grouped by a client fingerprint or a grouping rule — the V1 fingerprint, and moves the event
to the issue that fingerprint belongs to:

* the new fingerprint already has an issue B (events that arrived after the upload created it): the old
  fingerprint row is re-pointed to B exactly as a merge does it (version + 1), all events of the old fingerprint
  follow, B records a `symbolicated` activity, and the old issue — if it has no fingerprint left — is merged into
  B (assignee adopted if B has none, `merged` activity and notification, then deleted);
* it has none yet: the issue keeps its identity and gains the new fingerprint, so later, resolved events of the
  same error land in it.

Work is done in chunks of events, each its own transaction with the cursor and counters saved in `progress`, so a
restart resumes where it stopped (a `running` job whose heartbeat is older than two minutes is taken over).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import Database, insert_for, utcnow
from faultline.issues import lifecycle
from faultline.issues.models import (
    Event,
    Issue,
    IssueAssignment,
    IssueFingerprint,
    IssueUser,
    IssueVolumeDaily,
    IssueVolumeHourly,
)
from faultline.jobs.models import BackgroundJob, JobStatus
from faultline.pipeline import fingerprint as fp
from faultline.pipeline import linking
from faultline.pipeline.resolution import FrameResolver, metadata
from faultline.pipeline.store import upsert_frames
from faultline.symbols import frames as sf
from faultline.symbols.repairjobs import KIND
from faultline.symbols.resolver import truncate_ref

log = logging.getLogger(__name__)

CHUNK_EVENTS = 200
STALE_AFTER = dt.timedelta(minutes=2)
POLL_SECONDS = 2.0


# ---------------------------------------------------------------------------------------------------------------------
# One event


def references(frame: Mapping[str, Any], ref: str) -> bool:
    """Whether a resolved frame was produced from a raw frame that needs the symbol set `ref`."""
    junk = frame.get("junk_drawer")
    raw = junk.get("raw_frame") if isinstance(junk, Mapping) else None
    if not isinstance(raw, Mapping):
        return False
    for key in ("chunk_id", "chunkId", "map_id"):
        value = raw.get(key)
        if isinstance(value, str) and truncate_ref(value) == ref:
            return True
    url = sf.clean_script_url(sf.as_str(raw.get("filename")))
    return url is not None and truncate_ref(url) == ref


def _raw_hash(frame: Mapping[str, Any]) -> str:
    raw_id = frame.get("raw_id")
    return raw_id.split("/", 1)[0] if isinstance(raw_id, str) else ""


@dataclass
class Repaired:
    properties: dict[str, Any]
    fingerprint: str


def repair_properties(
    frame_resolver: FrameResolver, project_id: int, ref: str, properties: Mapping[str, Any]
) -> Repaired | None:
    """Re-resolve the frames of one stored event that reference `ref`; None when none do."""
    exceptions = properties.get("$exception_list")
    if not isinstance(exceptions, list):
        return None
    changed = False
    new_exceptions: list[Any] = []
    for exc in exceptions:
        stack = exc.get("stacktrace") if isinstance(exc, Mapping) else None
        if (
            not isinstance(stack, Mapping)
            or stack.get("type") != "resolved"
            or not isinstance(stack.get("frames"), list)
        ):
            new_exceptions.append(exc)
            continue
        old_frames = stack["frames"]
        out: list[Any] = []
        index = 0
        while index < len(old_frames):
            frame = old_frames[index]
            if not (isinstance(frame, Mapping) and references(frame, ref)):
                out.append(frame)
                index += 1
                continue
            # Every part a raw frame expanded to (inlined Java frames) shares its raw hash: replace them together.
            group_hash = _raw_hash(frame)
            end = index + 1
            while end < len(old_frames) and group_hash and _raw_hash(old_frames[end]) == group_hash:
                end += 1
            raw = frame["junk_drawer"]["raw_frame"]
            for resolved in frame_resolver.resolve(project_id, raw):
                out.append({"raw_id": resolved.raw_id, **resolved.contents})
            changed = True
            index = end
        new_exceptions.append({**exc, "stacktrace": {**stack, "frames": out}})
    if not changed or new_exceptions == exceptions:
        return None  # no frame of `ref`, or already symbolicated at ingestion
    props = {**properties, "$exception_list": new_exceptions}
    props.update(metadata(new_exceptions))
    fingerprint = str(properties.get("$exception_fingerprint") or "")
    record = properties.get("$exception_fingerprint_record")
    kinds = {r.get("type") for r in record if isinstance(r, Mapping)} if isinstance(record, list) else set()
    if not fingerprint or not kinds & {"manual", "custom"}:
        automatic = fp.v1(new_exceptions)
        fingerprint = automatic.value
        props["$exception_fingerprint"] = automatic.value
        props["$exception_fingerprint_record"] = automatic.record
        if automatic.version:
            props["$exception_fingerprint_version"] = automatic.version
    return Repaired(properties=props, fingerprint=fingerprint)


# ---------------------------------------------------------------------------------------------------------------------
# Moving events between issues


def _like_pattern(ref: str) -> str | None:
    """LIKE pattern finding `ref` inside the JSON text of an event, or None if JSON would escape it."""
    if any(c in ref for c in '"\\') or any(ord(c) < 0x20 for c in ref):
        return None
    return "%" + ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _hour(ts: dt.datetime) -> dt.datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _day(ts: dt.datetime) -> dt.datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def recompute_aggregates(session: Session, issue_ids: Sequence[uuid.UUID]) -> None:
    """occurrences, users, first/last seen and volume buckets of issues, from their events."""
    events = Event.__table__
    for issue_id in sorted(set(issue_ids), key=str):
        hourly: dict[dt.datetime, int] = defaultdict(int)
        daily: dict[dt.datetime, int] = defaultdict(int)
        count, first, last = 0, None, None
        for (timestamp,) in session.execute(sa.select(events.c.timestamp).where(events.c.issue_id == issue_id)):
            count += 1
            first = timestamp if first is None or timestamp < first else first
            last = timestamp if last is None or timestamp > last else last
            hourly[_hour(timestamp)] += 1
            daily[_day(timestamp)] += 1
        for table, buckets in ((IssueVolumeHourly.__table__, hourly), (IssueVolumeDaily.__table__, daily)):
            session.execute(sa.delete(table).where(table.c.issue_id == issue_id))
            if buckets:
                session.execute(
                    sa.insert(table),
                    [{"issue_id": issue_id, "bucket": b, "count": n} for b, n in sorted(buckets.items())],
                )
        users = IssueUser.__table__
        session.execute(sa.delete(users).where(users.c.issue_id == issue_id))
        distinct = sa.select(sa.literal(issue_id, sa.Uuid).label("issue_id"), events.c.distinct_id).where(
            events.c.issue_id == issue_id, events.c.distinct_id.is_not(None)
        )
        session.execute(users.insert().from_select(["issue_id", "distinct_id"], distinct.distinct()))
        user_count = session.scalar(sa.select(sa.func.count()).select_from(users).where(users.c.issue_id == issue_id))
        session.execute(
            sa.update(Issue.__table__)
            .where(Issue.__table__.c.id == issue_id)
            .values(occurrences=count, users=user_count or 0, first_seen=first, last_seen=last)
        )


@dataclass
class _Move:
    old_issue: uuid.UUID
    old_fingerprint: str
    new_fingerprint: str
    first_seen: dt.datetime
    event_ids: list[int] = field(default_factory=list)


def _regroup(session: Session, project_id: int, ref: str, move: _Move) -> bool:
    """Apply one (old fingerprint → new fingerprint) change; True if events changed issue."""
    fp_table, events = IssueFingerprint.__table__, Event.__table__
    found = linking.lookup(session, project_id, [move.new_fingerprint]).get(move.new_fingerprint)
    if found is None:
        stmt = insert_for(session.get_bind().dialect.name, fp_table).on_conflict_do_nothing(
            index_elements=["project_id", "fingerprint"]
        )
        session.execute(
            stmt,
            [
                {
                    "id": uuid.uuid4(),
                    "project_id": project_id,
                    "issue_id": move.old_issue,
                    "fingerprint": move.new_fingerprint,
                    "version": 0,
                    "first_seen": move.first_seen,
                    "created_at": utcnow(),
                }
            ],
        )
        found = linking.lookup(session, project_id, [move.new_fingerprint]).get(move.new_fingerprint)
        if found is not None and found.id == move.old_issue:
            issue = session.get(Issue, move.old_issue)
            lifecycle.record_activity(
                session,
                project_id=project_id,
                issue_id=move.old_issue,
                activity="symbolicated",
                user_id=None,
                name=issue.name if issue else None,
                changes=[lifecycle.change("fingerprint", move.old_fingerprint, move.new_fingerprint, "added")],
                extra={"symbol_set_ref": ref},
            )
            return False
    assert found is not None
    target = found.id
    if target == move.old_issue:
        return False

    # Re-point the old fingerprint like a merge would, and take every event of both fingerprints along.
    session.execute(
        sa.update(fp_table)
        .where(fp_table.c.project_id == project_id, fp_table.c.fingerprint == move.old_fingerprint)
        .values(issue_id=target, version=fp_table.c.version + 1)
    )
    session.execute(
        sa.update(events)
        .where(
            events.c.project_id == project_id,
            events.c.issue_id == move.old_issue,
            events.c.fingerprint.in_([move.old_fingerprint, move.new_fingerprint]),
        )
        .values(issue_id=target)
    )
    target_issue = session.get(Issue, target)
    lifecycle.record_activity(
        session,
        project_id=project_id,
        issue_id=target,
        activity="symbolicated",
        user_id=None,
        name=target_issue.name if target_issue else None,
        changes=[lifecycle.change("fingerprint", None, move.old_fingerprint, "re-pointed")],
        extra={"symbol_set_ref": ref, "from_issue_id": str(move.old_issue), "new_fingerprint": move.new_fingerprint},
    )
    remaining = session.scalar(
        sa.select(sa.func.count()).select_from(fp_table).where(fp_table.c.issue_id == move.old_issue)
    )
    if remaining == 0:
        _absorb(session, project_id, move.old_issue, target, ref)
    recompute_aggregates(session, [target] if remaining == 0 else [target, move.old_issue])
    return True


def _absorb(session: Session, project_id: int, source: uuid.UUID, target: uuid.UUID, ref: str) -> None:
    """The old issue lost its last fingerprint: merge it into the target (assignee adopted, then deleted)."""
    assignments = IssueAssignment.__table__
    has_assignee = session.scalar(sa.select(assignments.c.id).where(assignments.c.issue_id == target))
    if has_assignee is None:
        session.execute(sa.update(assignments).where(assignments.c.issue_id == source).values(issue_id=target))
    leftovers = sa.update(Event.__table__).where(Event.__table__.c.issue_id == source).values(issue_id=target)
    session.execute(leftovers)
    target_issue = session.get(Issue, target)
    assert target_issue is not None
    target_issue.state_updated_at = utcnow()
    lifecycle.record_activity(
        session,
        project_id=project_id,
        issue_id=target,
        activity="merged",
        user_id=None,
        name=target_issue.name,
        changes=[lifecycle.change("merged_issue_ids", None, [str(source)])],
        extra={"trigger": {"type": "symbolication", "symbol_set_ref": ref}},
    )
    props = lifecycle.issue_properties(
        name=target_issue.name,
        description=target_issue.description,
        status=target_issue.status,
        severity=target_issue.severity,
        first_seen=target_issue.created_at,
        fingerprint=None,
        assignee=None,
    )
    lifecycle.emit(
        session,
        project_id=project_id,
        event=lifecycle.ISSUE_MERGED,
        issue_id=target,
        properties={**props, "merged_issue_ids": [str(source)]},
    )
    session.flush()
    session.execute(sa.delete(Issue.__table__).where(Issue.__table__.c.id == source))


# ---------------------------------------------------------------------------------------------------------------------
# The job


class RepairRunner:
    """Claims `symbol_repair` jobs and works through them chunk by chunk; one thread per process is plenty."""

    def __init__(
        self, db: Database, runtime: Any, *, chunk_size: int = CHUNK_EVENTS, project_id: int | None = None
    ) -> None:
        self.db = db
        self.runtime = runtime
        self.chunk_size = chunk_size
        self.project_id = project_id  # only this project's jobs (CLI option, tests)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Claiming ----------------------------------------------------------------------------------------------------

    def claim(self) -> uuid.UUID | None:
        jobs = BackgroundJob.__table__
        now = utcnow()
        claimable = sa.and_(
            jobs.c.kind == KIND,
            sa.or_(
                jobs.c.status == JobStatus.PENDING,
                sa.and_(jobs.c.status == JobStatus.RUNNING, jobs.c.updated_at < now - STALE_AFTER),
            ),
        )
        if self.project_id is not None:
            claimable = sa.and_(claimable, jobs.c.project_id == self.project_id)
        with self.db.write() as session:
            candidate = session.scalar(sa.select(jobs.c.id).where(claimable).order_by(jobs.c.created_at).limit(1))
            if candidate is None:
                return None
            claimed = session.execute(
                sa.update(jobs)
                .where(jobs.c.id == candidate, claimable)
                .values(
                    status=JobStatus.RUNNING,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                    updated_at=now,
                )
            ).rowcount
        return candidate if claimed == 1 else None

    # Working ------------------------------------------------------------------------------------------------------

    def run_pending(self, max_jobs: int = 100) -> int:
        """Run claimable jobs to completion in this thread; how many were finished."""
        done = 0
        while done < max_jobs and not self._stop.is_set():
            job_id = self.claim()
            if job_id is None:
                break
            self.run_job(job_id)
            done += 1
        return done

    def run_job(self, job_id: uuid.UUID) -> None:
        try:
            while not self._stop.is_set():
                if self._chunk(job_id):
                    return
        except Exception as exc:
            log.exception("symbol repair job %s failed", job_id)
            with self.db.write() as session:
                job = session.get(BackgroundJob, job_id)
                if job is not None:
                    job.status = JobStatus.FAILED
                    job.error = f"{type(exc).__name__}: {exc}"[:2000]
                    job.finished_at = utcnow()

    def _chunk(self, job_id: uuid.UUID) -> bool:
        """One transaction's worth of events; True when the job is finished."""
        events = Event.__table__
        with self.db.write() as session:
            job = session.get(BackgroundJob, job_id)
            if job is None or job.status != JobStatus.RUNNING:
                return True
            project_id = job.project_id
            ref = str(job.params.get("ref") or "")
            since = dt.datetime.fromisoformat(str(job.params["since"]))
            progress = dict(job.progress or {})
            if "max_id" not in progress:
                window = sa.select(sa.func.min(events.c.id), sa.func.max(events.c.id)).where(
                    events.c.project_id == project_id, events.c.timestamp >= since
                )
                start_id, max_id = session.execute(window).one()
                progress.update(start_id=(start_id or 1) - 1, max_id=max_id or 0, cursor=(start_id or 1) - 1)
            cursor, max_id = int(progress["cursor"]), int(progress["max_id"])
            stmt = (
                sa.select(events.c.id, events.c.issue_id, events.c.fingerprint, events.c.timestamp, events.c.properties)
                .where(
                    events.c.project_id == project_id,
                    events.c.id > cursor,
                    events.c.id <= max_id,
                    events.c.timestamp >= since,
                )
                .order_by(events.c.id)
                .limit(self.chunk_size)
            )
            pattern = _like_pattern(ref)
            if pattern is not None:
                stmt = stmt.where(sa.cast(events.c.properties, sa.Text).like(pattern, escape="\\"))
            rows = session.execute(stmt).all()
            resolver = FrameResolver(session, self.runtime.resolver)
            moves: dict[tuple[uuid.UUID, str, str], _Move] = {}
            for event_id, issue_id, fingerprint, timestamp, properties in rows:
                progress["scanned"] = int(progress.get("scanned", 0)) + 1
                repaired = repair_properties(resolver, project_id, ref, properties or {})
                if repaired is None:
                    continue
                session.execute(
                    sa.update(events)
                    .where(events.c.id == event_id)
                    .values(properties=repaired.properties, fingerprint=repaired.fingerprint)
                )
                progress["repaired"] = int(progress.get("repaired", 0)) + 1
                if repaired.fingerprint != fingerprint:
                    key = (issue_id, fingerprint, repaired.fingerprint)
                    move = moves.setdefault(key, _Move(issue_id, fingerprint, repaired.fingerprint, timestamp))
                    move.first_seen = min(move.first_seen, timestamp)
                    move.event_ids.append(event_id)
            upsert_frames(session, resolver.stack_frame_rows())
            for move in moves.values():
                if _regroup(session, project_id, ref, move):
                    progress["regrouped"] = int(progress.get("regrouped", 0)) + len(move.event_ids)
            self._stamp_issue_ids(session, [m for m in moves.values()])
            finished = len(rows) < self.chunk_size
            progress["cursor"] = int(rows[-1][0]) if rows else max_id
            span = max(1, max_id - int(progress["start_id"]))
            progress["percent"] = (
                100 if finished else min(99, int(100 * (progress["cursor"] - progress["start_id"]) / span))
            )
            job.progress = progress
            job.updated_at = utcnow()
            if finished:
                job.status = JobStatus.DONE
                job.finished_at = utcnow()
            return finished

    @staticmethod
    def _stamp_issue_ids(session: Session, moves: Sequence[_Move]) -> None:
        """Keep `$exception_issue_id` in the stored properties in step with the event's issue."""
        events = Event.__table__
        ids = [event_id for move in moves for event_id in move.event_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for event_id, issue_id, properties in session.execute(
                sa.select(events.c.id, events.c.issue_id, events.c.properties).where(events.c.id.in_(chunk))
            ):
                if properties.get("$exception_issue_id") != str(issue_id):
                    session.execute(
                        sa.update(events)
                        .where(events.c.id == event_id)
                        .values(properties={**properties, "$exception_issue_id": str(issue_id)})
                    )

    # Background thread ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:
                log.exception("symbol repair loop error")
            self._stop.wait(POLL_SECONDS)

    def start_thread(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="faultline-symbol-repair", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
