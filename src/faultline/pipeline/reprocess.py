"""Re-processing stored events after a late symbol upload: the digest's stages again, for events already stored.

Uploading (or re-uploading) a set queues a `symbol_repair` job in `background_jobs`. The job walks the project's
events of the last N days (FAULTLINE_SYMBOL_REPAIR_DAYS) whose frames reference the set's ref, resolves those
frames again with the digest's `FrameResolver` (the raw frame travels in each resolved frame's
`junk_drawer.raw_frame`), recomputes the metadata and — unless the event was grouped by a client fingerprint or a
grouping rule — the V1 fingerprint with the digest's own functions, and moves the event to the issue that
fingerprint belongs to (`faultline.issues.fingerprints`, shared with merges):

* the new fingerprint already has an issue B (events that arrived after the upload created it): the old
  fingerprint row is re-pointed to B exactly as a merge does it (version + 1), all events of the old fingerprint
  follow, B records a `symbolicated` activity, and the old issue — if it has no fingerprint left — is merged into
  B (assignee adopted if B has none, `merged` activity and notification, then deleted);
* it has none yet: the issue keeps its identity and gains the new fingerprint, so later, resolved events of the
  same error land in it.

Like a digest batch, each chunk of events is resolved on a read session first and written in one transaction that
saves the job's cursor and counters (`faultline.jobs.runner` claims, heartbeats and resumes the job).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import Database, table_of, utcnow
from faultline.issues import fingerprints, lifecycle
from faultline.issues import service as issues
from faultline.issues.models import Event, Issue
from faultline.jobs.models import BackgroundJob, JobStatus
from faultline.jobs.runner import JobRunner, StepChanged
from faultline.pipeline import fingerprint as fp
from faultline.pipeline import linking
from faultline.pipeline.digest import fingerprint_properties
from faultline.pipeline.resolution import FrameResolver, metadata
from faultline.pipeline.store import upsert_frames
from faultline.protocol import ResolvedException, SymbolBatch
from faultline.symbols.repair import like_pattern, references
from faultline.symbols.repairjobs import KIND

log = logging.getLogger(__name__)

CHUNK_EVENTS = 200


# ---------------------------------------------------------------------------------------------------------------------
# One event


def _raw_hash(frame: Any) -> str:
    raw_id = frame.get("raw_id") if isinstance(frame, Mapping) else None
    return raw_id.split("/", 1)[0] if isinstance(raw_id, str) else ""


@dataclass(slots=True)
class Reprocessed:
    properties: dict[str, Any]
    fingerprint: str


def reprocess_properties(
    frame_resolver: FrameResolver, project_id: int, ref: str, properties: Mapping[str, Any]
) -> Reprocessed | None:
    """Resolve again the frames of one stored event that reference `ref`; None when none do (or nothing changed).
    Frames that do not reference `ref` are kept exactly as stored."""
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
            out.extend(dict(j) for j in frame_resolver.resolve(project_id, raw).jsons)
            changed = True
            index = end
        new_exceptions.append({**exc, "stacktrace": {**stack, "frames": out}})
    if not changed or new_exceptions == exceptions:
        return None  # no frame of `ref`, or already symbolicated at ingestion
    typed = [ResolvedException.from_stored(exc) for exc in new_exceptions]
    props = {**properties, "$exception_list": new_exceptions}
    props.update(metadata(typed))
    fingerprint = str(properties.get("$exception_fingerprint") or "")
    record = properties.get("$exception_fingerprint_record")
    kinds = {r.get("type") for r in record if isinstance(r, Mapping)} if isinstance(record, list) else set()
    if not fingerprint or not kinds & {"manual", "custom"}:
        automatic = fp.v1(typed)
        fingerprint = automatic.value
        fingerprint_properties(props, automatic)
    return Reprocessed(properties=props, fingerprint=fingerprint)


# ---------------------------------------------------------------------------------------------------------------------
# Moving events between issues


@dataclass
class _Move:
    old_issue: uuid.UUID
    old_fingerprint: str
    new_fingerprint: str
    first_seen: dt.datetime
    event_ids: list[int] = field(default_factory=list)


def _regroup(session: Session, project_id: int, ref: str, move: _Move) -> bool:
    """Apply one (old fingerprint → new fingerprint) change; True if events changed issue."""
    found = linking.lookup_and_lock(session, project_id, [move.new_fingerprint]).get(move.new_fingerprint)
    if found is None:
        fingerprints.attach(session, project_id, move.old_issue, move.new_fingerprint, move.first_seen)
        found = linking.lookup_and_lock(session, project_id, [move.new_fingerprint]).get(move.new_fingerprint)
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
    fingerprints.repoint(session, project_id, target, fingerprints=[move.old_fingerprint])
    fingerprints.move_events(
        session,
        project_id,
        target,
        issue_ids=[move.old_issue],
        fingerprints=[move.old_fingerprint, move.new_fingerprint],
    )
    lifecycle.record_activity(
        session,
        project_id=project_id,
        issue_id=target,
        activity="symbolicated",
        user_id=None,
        name=found.name,
        changes=[lifecycle.change("fingerprint", None, move.old_fingerprint, "re-pointed")],
        extra={"symbol_set_ref": ref, "from_issue_id": str(move.old_issue), "new_fingerprint": move.new_fingerprint},
    )
    issues.fold_if_empty(
        session, project_id, move.old_issue, target, trigger={"type": "symbolication", "symbol_set_ref": ref}
    )
    return True


# ---------------------------------------------------------------------------------------------------------------------
# The job


@dataclass
class _Chunk:
    """What the read half of a chunk found: re-resolved events, by id, with the properties they were read with."""

    project_id: int
    ref: str
    progress: dict[str, Any]
    read_cursor: Any
    event_ids: list[int]
    symbols: SymbolBatch
    resolver: FrameResolver
    repaired: dict[int, tuple[Any, Reprocessed]] = field(default_factory=dict)


class RepairRunner(JobRunner):
    """The `symbol_repair` job kind: chunk by chunk over the events a late upload can fix."""

    kinds = (KIND,)
    thread_name = "faultline-symbol-repair"

    def __init__(
        self, db: Database, runtime: Any, *, chunk_size: int = CHUNK_EVENTS, project_id: int | None = None
    ) -> None:
        super().__init__(db, project_id=project_id)
        self.runtime = runtime  # anything with a `.resolver` (a `SymbolResolver`)
        self.chunk_size = chunk_size

    def step(self, job_id: uuid.UUID, *, settle: bool = False) -> bool:
        return self._chunk(job_id, settle=settle)

    def _chunk(self, job_id: uuid.UUID, *, settle: bool = False) -> bool:
        """One chunk of events; True when the job is finished.

        Like a digest batch, the frames are re-resolved before the write transaction (they may need a blob parsed
        or a script fetched); the transaction then checks that neither the symbols nor the events changed
        meanwhile — if they did, `StepChanged` sends the chunk round again (`settle`: write what still holds).
        """
        read = self._read_chunk(job_id)
        if read is None:
            return True
        committed = False
        try:
            with self.db.write() as session:
                finished = self._write_chunk(session, job_id, read, settle=settle)
            committed = True
        finally:
            read.symbols.finish(committed)
        return finished

    def _read_chunk(self, job_id: uuid.UUID) -> _Chunk | None:
        events = table_of(Event)
        with self.db.read() as session:
            job = session.get(BackgroundJob, job_id)
            if job is None or job.status != JobStatus.RUNNING or job.project_id is None:
                return None
            project_id = job.project_id
            ref = str(job.params.get("ref") or "")
            since = dt.datetime.fromisoformat(str(job.params["since"]))
            progress = dict(job.progress or {})
            read_cursor = progress.get("cursor")
            if "max_id" not in progress:
                window = sa.select(sa.func.min(events.c.id), sa.func.max(events.c.id)).where(
                    events.c.project_id == project_id, events.c.timestamp >= since
                )
                start_id, max_id = session.execute(window).one()
                progress.update(start_id=(start_id or 1) - 1, max_id=max_id or 0, cursor=(start_id or 1) - 1)
            cursor, max_id = int(progress["cursor"]), int(progress["max_id"])
            stmt = (
                sa.select(events.c.id, events.c.properties)
                .where(
                    events.c.project_id == project_id,
                    events.c.id > cursor,
                    events.c.id <= max_id,
                    events.c.timestamp >= since,
                )
                .order_by(events.c.id)
                .limit(self.chunk_size)
            )
            pattern = like_pattern(ref)
            if pattern is not None:
                stmt = stmt.where(sa.cast(events.c.properties, sa.Text).like(pattern, escape="\\"))
            rows = session.execute(stmt).all()
            symbols = self.runtime.resolver.batch(session)
            chunk = _Chunk(
                project_id, ref, progress, read_cursor, [r[0] for r in rows], symbols, FrameResolver(symbols)
            )
            try:
                for event_id, properties in rows:
                    repaired = reprocess_properties(chunk.resolver, project_id, ref, properties or {})
                    if repaired is not None:
                        chunk.repaired[event_id] = (properties, repaired)
            except BaseException:
                symbols.finish(False)
                raise
        return chunk

    def _write_chunk(self, session: Session, job_id: uuid.UUID, read: _Chunk, *, settle: bool) -> bool:
        events = table_of(Event)
        job = session.get(BackgroundJob, job_id)
        if job is None or job.status != JobStatus.RUNNING:
            return True
        if (job.progress or {}).get("cursor") != read.read_cursor:
            return False  # another runner took the job over and moved on: read again from its cursor
        applied = read.symbols.apply(session)
        if applied.stale and not settle:
            raise StepChanged()
        current = self._current_events(session, list(read.repaired))
        progress = read.progress
        moves: dict[tuple[uuid.UUID, str, str], _Move] = {}
        for event_id, (properties, repaired) in read.repaired.items():
            now = current.get(event_id)
            if now is None or now.properties != properties:
                if not settle:
                    raise StepChanged()
                continue  # deleted, or rewritten by another repair: leave it to that one
            session.execute(
                sa.update(events)
                .where(events.c.id == event_id)
                .values(properties=repaired.properties, fingerprint=repaired.fingerprint)
            )
            progress["repaired"] = int(progress.get("repaired", 0)) + 1
            if repaired.fingerprint != now.fingerprint:
                key = (now.issue_id, now.fingerprint, repaired.fingerprint)
                move = moves.setdefault(key, _Move(now.issue_id, now.fingerprint, repaired.fingerprint, now.timestamp))
                move.first_seen = min(move.first_seen, now.timestamp)
                move.event_ids.append(event_id)
        progress["scanned"] = int(progress.get("scanned", 0)) + len(read.event_ids)
        upsert_frames(session, read.resolver.stack_frame_rows(applied.replaced_ids))
        for move in moves.values():
            if _regroup(session, read.project_id, read.ref, move):
                progress["regrouped"] = int(progress.get("regrouped", 0)) + len(move.event_ids)
        self._stamp_issue_ids(session, list(moves.values()))
        max_id = int(progress["max_id"])
        finished = len(read.event_ids) < self.chunk_size
        progress["cursor"] = read.event_ids[-1] if read.event_ids else max_id
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
    def _current_events(session: Session, event_ids: Sequence[int]) -> dict[int, Any]:
        """The repaired events as they are now (locked on PostgreSQL until the chunk commits)."""
        events = table_of(Event)
        found: dict[int, Any] = {}
        for start in range(0, len(event_ids), 500):
            stmt = (
                sa.select(events.c.id, events.c.issue_id, events.c.fingerprint, events.c.timestamp, events.c.properties)
                .where(events.c.id.in_(list(event_ids[start : start + 500])))
                .order_by(events.c.id)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            found.update((row.id, row) for row in session.execute(stmt))
        return found

    @staticmethod
    def _stamp_issue_ids(session: Session, moves: Sequence[_Move]) -> None:
        """Keep `$exception_issue_id` in the stored properties in step with the event's issue."""
        events = table_of(Event)
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
