"""A merge that commits while a digest batch is between reading the fingerprint → issue map and storing its events.

The merge is run from a hook on the pipeline's map read, so the interleaving is the same on every run: on
PostgreSQL it commits right after the batch's first read of the map (before the batch locks or stores anything);
on SQLite it cannot commit before the batch does (the batch holds the only write lock), so it runs right after.
Either way every event must end up on the surviving issue, stored once, none dropped, in one pass of the batch.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.ingest.models import IngestCounter
from faultline.ingest.posthog_body import queue_payload
from faultline.ingest.queue.sqlite import SQLiteQueue
from faultline.issues import aggregates
from faultline.issues import service as issues
from faultline.issues.models import Event, Issue, IssueFingerprint, IssueUser, IssueVolumeHourly
from faultline.pipeline import linking
from faultline.pipeline.digest import Incoming, Outcome, Pipeline
from faultline.pipeline.worker import Worker
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event, ingest

BATCH = 6


class CountingPipeline(Pipeline):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def process(self, items: Sequence[Incoming]) -> list[Outcome]:
        self.batches.append(len(items))
        return super().process(items)


def queued(env: Env, queue: SQLiteQueue, exc_type: str, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    events = [exception_event(exc_type, "boom", distinct_id=f"user-{i % 3}") for i in range(count)]
    queue.put([(env.project_id, queue_payload(e, sent_at=None, received_at=now)) for e in events])


def merge(env: Env, target: uuid.UUID, source: uuid.UUID) -> None:
    with env.db.write() as session:
        outcome = issues.merge_issues(session, env.project_id, target, [source], None)
    assert outcome.merged_issue_ids == [source]


def counters(env: Env) -> dict[str, int]:
    with env.db.read() as session:
        rows = session.execute(sa.select(IngestCounter.name, sa.func.sum(IngestCounter.value)).group_by("name"))
        return {name: int(value) for name, value in rows}


def aggregate_snapshot(env: Env, issue_id: uuid.UUID) -> tuple[Any, ...]:
    with env.db.read() as session:
        issue = session.get(Issue, issue_id)
        hourly = sorted(
            session.execute(
                sa.select(IssueVolumeHourly.bucket, IssueVolumeHourly.count).where(
                    IssueVolumeHourly.issue_id == issue_id
                )
            ).all()
        )
        users = sorted(
            session.execute(sa.select(IssueUser.distinct_id).where(IssueUser.issue_id == issue_id)).scalars()
        )
        return issue.occurrences, issue.users, issue.first_seen, issue.last_seen, hourly, users


def assert_all_on(env: Env, survivor: uuid.UUID, gone: uuid.UUID, total: int) -> None:
    with env.db.read() as session:
        by_issue = dict(session.execute(sa.select(Event.issue_id, sa.func.count()).group_by(Event.issue_id)).all())
        assert session.get(Issue, gone) is None
        fingerprints = session.execute(
            sa.select(IssueFingerprint.issue_id).where(IssueFingerprint.project_id == env.project_id)
        ).scalars()
        assert set(fingerprints) == {survivor}
    assert by_issue == {survivor: total}
    # The counters the batch maintained incrementally agree with a full recount from the events.
    maintained = aggregate_snapshot(env, survivor)
    with env.db.write() as session:
        aggregates.recompute(session, [survivor])
    assert maintained == aggregate_snapshot(env, survivor)
    assert maintained[0] == total


def test_merge_between_map_read_and_store_loses_nothing(any_env: Env, tmp_path: Path, monkeypatch) -> None:
    env = any_env
    [source] = ingest(env.db, env.project_id, [exception_event("SourceError", "boom")])
    [target] = ingest(env.db, env.project_id, [exception_event("TargetError", "boom")])
    queue = SQLiteQueue(tmp_path / "queue.db")
    queued(env, queue, "SourceError", BATCH)

    real_lookup = linking.lookup
    merger: list[threading.Thread] = []

    def lookup_then_merge(session: Any, project_id: int, fingerprints: Sequence[str]) -> Mapping[str, Any]:
        refs = real_lookup(session, project_id, fingerprints)
        if not merger and any(ref.id == source.issue_id for ref in refs.values()):
            thread = threading.Thread(target=merge, args=(env, target.issue_id, source.issue_id))
            merger.append(thread)
            thread.start()
            if env.db.dialect == "postgresql":
                thread.join(30)  # the batch holds no lock yet: the merge commits now, under the batch's feet
                assert not thread.is_alive()
        return refs

    monkeypatch.setattr(linking, "lookup", lookup_then_merge)
    pipeline = CountingPipeline(env.db)
    worker = Worker(env.db, queue, pipeline, batch_size=50)
    assert worker.run_once(0) == BATCH
    [thread] = merger
    thread.join(60)
    assert not thread.is_alive()

    assert pipeline.batches == [BATCH]  # one pass: no failed attempt, no retry, no split
    assert queue.pending() == 0
    assert worker.processed == BATCH
    assert counters(env) == {"accepted": BATCH + 2}
    assert_all_on(env, target.issue_id, source.issue_id, BATCH + 2)
    queue.close()


@pytest.mark.postgres
def test_worker_retry_rereads_a_stale_map(pg_env: Env, tmp_path: Path, monkeypatch) -> None:
    """Without the pinning lookup (as if a stale map slipped through), the insert fails on the merged-away issue;
    the worker's retry reads the map again and stores every event on the survivor."""
    env = pg_env
    [source] = ingest(env.db, env.project_id, [exception_event("SourceError", "boom")])
    [target] = ingest(env.db, env.project_id, [exception_event("TargetError", "boom")])
    queue = SQLiteQueue(tmp_path / "queue.db")
    queued(env, queue, "SourceError", BATCH)

    merged: list[bool] = []

    def stale_lookup(session: Any, project_id: int, fingerprints: Sequence[str]) -> dict[str, Any]:
        refs = linking.lookup(session, project_id, fingerprints)
        if not merged:
            merge(env, target.issue_id, source.issue_id)
            merged.append(True)
        return refs

    monkeypatch.setattr(linking, "lookup_and_lock", stale_lookup)
    pipeline = CountingPipeline(env.db)
    worker = Worker(env.db, queue, pipeline, batch_size=50)
    assert worker.run_once(0) == BATCH

    assert pipeline.batches == [BATCH, BATCH]  # the failed attempt and one retry of the whole batch, no split
    assert queue.pending() == 0
    assert counters(env) == {"accepted": BATCH + 2}
    assert_all_on(env, target.issue_id, source.issue_id, BATCH + 2)
    queue.close()
