"""The worker's failure policy: a poison event is isolated and eventually dropped (counted), the rest of its batch
is stored; a database outage gives the batch back instead of dropping anything."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from faultline.ingest.envelope import queue_payload
from faultline.ingest.models import IngestCounter, IngestError
from faultline.ingest.queue.redis import RedisQueue
from faultline.ingest.queue.sqlite import SQLiteQueue
from faultline.issues.models import Event
from faultline.pipeline.digest import Pipeline
from faultline.pipeline.worker import Worker
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event


class ExplodingPipeline(Pipeline):
    """Crashes (like a bug would) whenever the batch contains an exception of type "Poison"."""

    def process(self, items):
        if any(b'"Poison"' in item.payload for item in items):
            raise RuntimeError("bug triggered by this event")
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
