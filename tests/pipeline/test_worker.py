"""The worker's failure policy: a poison event is isolated and, after 5 deliveries, dead-lettered (counted and
reported), the rest of its batch is stored; a database outage gives the batch back instead of dropping anything."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database
from faultline.ingest.models import IngestCounter, IngestError
from faultline.ingest.posthog_body import queue_payload
from faultline.ingest.queue import Queue
from faultline.ingest.queue.redis import RedisQueue
from faultline.ingest.queue.sqlite import SQLiteQueue
from faultline.issues.models import Event
from faultline.pipeline.digest import Pipeline
from faultline.pipeline.worker import Worker
from tests.conftest import Tenant
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event


class ExplodingPipeline(Pipeline):
    """Crashes (like a bug would) whenever the batch contains an exception of type "Poison"."""

    def process(self, items):
        if any(b'"Poison"' in item.payload for item in items):
            raise RuntimeError("bug triggered by this event")
        return super().process(items)


class CountingExplodingPipeline(ExplodingPipeline):
    """Records each delivery of the poison event (one queue message object per claim; isolating a failed batch
    hands the same message to the pipeline again, which is not a new delivery) with its attempt number."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.deliveries: list[Any] = []

    def process(self, items):
        for item in items:
            if b'"Poison"' in item.payload and not any(item.ref is seen for seen in self.deliveries):
                self.deliveries.append(item.ref)
        return super().process(items)


def payloads(*types: str) -> list[tuple[int, bytes]]:
    now = dt.datetime.now(dt.UTC)
    return [(1, queue_payload(exception_event(t, "m"), sent_at=None, received_at=now)) for t in types]


def test_poison_event_is_isolated_then_dropped_and_reported(env: Env, tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    worker = Worker(env.db, queue, ExplodingPipeline(env.db), batch_size=10, max_attempts=2)
    items = [(env.project_id, p) for _, p in payloads("A", "Poison", "B", "C")]
    queue.put(items)
    worker.run_once(0)
    with env.db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 3
    assert queue.pending() == 1  # the poison event waits for its retry
    with queue._read_lock:
        queue._read_conn.execute("UPDATE queue_items SET visible_at = 0")
    worker.run_once(0)
    assert queue.pending() == 0
    with env.db.read() as s:
        failed = s.execute(sa.select(IngestCounter.value).where(IngestCounter.name == "failed")).scalar_one()
        error = s.execute(sa.select(IngestError).where(IngestError.code == "processing_failed")).scalar_one()
    assert failed == 1 and "Poison" in error.detail["payload_prefix"]
    queue.close()


def test_database_outage_returns_the_batch(env: Env, tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    worker = Worker(env.db, queue, Pipeline(env.db), batch_size=10)
    queue.put([(env.project_id, p) for _, p in payloads("A", "B")])
    with env.db.write() as s:  # simulate an outage: the events table is gone
        s.execute(sa.text("ALTER TABLE events RENAME TO events_away"))
    worker.run_once(0)
    assert queue.pending() == 2
    with env.db.write() as s:
        s.execute(sa.text("ALTER TABLE events_away RENAME TO events"))
    with queue._read_lock:
        queue._read_conn.execute("UPDATE queue_items SET visible_at = 0")
    worker.run_once(0)
    assert queue.pending() == 0
    with env.db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 2
    queue.close()


@pytest.mark.redis
def test_worker_digests_from_redis_streams(env: Env) -> None:
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS UNAVAILABLE — {exc}")
    queue = RedisQueue.from_url(f"redis://127.0.0.1:6379/0?stream=faultline-test-{uuid.uuid4().hex}")
    try:
        queue.put([(env.project_id, p) for _, p in payloads("A", "B", "A")])
        worker = Worker(env.db, queue, Pipeline(env.db), batch_size=2)
        assert worker.run_until_empty() == 3
        assert queue.pending() == 0
        with env.db.read() as s:
            assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 3
    finally:
        queue.client.delete(queue.stream)
        queue.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def any_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    if request.param == "sqlite":
        queue: Queue = SQLiteQueue(tmp_path / "q.db")
    else:
        try:
            redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.skip(f"REDIS UNAVAILABLE — {exc}")
        queue = RedisQueue.from_url(f"redis://127.0.0.1:6379/0?stream=faultline-test-{uuid.uuid4().hex}")
    yield queue
    if isinstance(queue, RedisQueue):
        queue.client.delete(queue.stream, queue.bytes_key)
    queue.close()


def test_poison_event_is_delivered_five_times_then_dead_lettered(
    any_queue: Queue, client: TestClient, db: Database, seed: Tenant
) -> None:
    """Regression (Redis): every reclaim reported attempt 2 and `release` did nothing, so a poison event came back
    every 60 s forever. Now the queue's own delivery count reaches 5, the event leaves the queue, and the
    ingestion report shows it as `failed` with its error."""
    pipeline = CountingExplodingPipeline(db)
    worker = Worker(db, any_queue, pipeline, batch_size=10, retry_base_seconds=0.02)
    any_queue.put([(seed.project.id, p) for _, p in payloads("A", "Poison")])
    deadline = time.monotonic() + 20
    while any_queue.pending() and time.monotonic() < deadline:
        worker.run_once(0.05)
    assert any_queue.pending() == 0
    assert [m.attempts for m in pipeline.deliveries] == [1, 2, 3, 4, 5]
    for _ in range(3):  # nothing comes back
        worker.run_once(0.05)
    assert len(pipeline.deliveries) == 5

    report = client.get(f"/api/environments/{seed.project.id}/error_tracking/ingestion/", headers=seed.headers).json()
    assert (report["totals"]["failed"], report["totals"]["accepted"]) == (1, 1)
    (error,) = [e for e in report["recent_errors"] if e["code"] == "processing_failed"]
    assert "after 5 attempts" in error["message"] and "Poison" in error["detail"]["payload_prefix"]
    assert report["queue"]["pending"] == 0 or report["queue"]["backend"] == "sqlite"


def test_database_outage_does_not_count_towards_dead_lettering(any_queue: Queue, env: Env) -> None:
    """Deliveries given back while the database is down are not the event's fault: they must not use up its five."""
    worker = Worker(env.db, any_queue, Pipeline(env.db), batch_size=10)
    worker._stop.wait = lambda _seconds: False  # no back-off sleep in the test
    any_queue.put([(env.project_id, p) for _, p in payloads("A")])
    with env.db.write() as s:
        s.execute(sa.text("ALTER TABLE events RENAME TO events_away"))
    for _ in range(3):
        worker.run_once(2.0)  # each outage release makes it claimable again after 1 s
    with env.db.write() as s:
        s.execute(sa.text("ALTER TABLE events_away RENAME TO events"))
    (message,) = any_queue.claim(1, 2.0)
    assert message.attempts == 1
