"""Both queue backends behind one contract: durable put, leased claim, ack, redelivery after a crash. The SQLite
queue's group commit is checked by counting transactions; the Redis one runs against the machine's real Redis."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from faultline.ingest.queue import Queue, open_queue
from faultline.ingest.queue.redis import RedisQueue
from faultline.ingest.queue.sqlite import SQLiteQueue

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS UNAVAILABLE — {exc}")


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/queue.db"
        return
    _redis_or_skip()
    stream = f"faultline-test-{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?stream={stream}"
    redis.Redis.from_url(REDIS_URL).delete(stream)


def short_lease(queue: Queue) -> Queue:
    if isinstance(queue, RedisQueue):
        queue.lease_ms = 200
    else:
        queue.lease_seconds = 0.2
    return queue


def test_put_claim_ack(queue_url: str) -> None:
    queue = open_queue(queue_url)
    try:
        queue.put([(1, b"a"), (2, b"b"), (1, b"c")])
        assert queue.pending() == 3
        first = queue.claim(2, 0.1)
        assert [(m.project_id, m.payload) for m in first] == [(1, b"a"), (2, b"b")]
        rest = queue.claim(10, 0.1)
        assert [m.payload for m in rest] == [b"c"]
        assert queue.claim(10, 0.05) == []  # everything is leased
        queue.ack(first + rest)
        assert queue.pending() == 0
    finally:
        queue.close()


def test_unacked_messages_come_back_to_another_consumer(queue_url: str) -> None:
    """A worker that dies holding a batch (no ack) loses nothing: another consumer gets it after the lease."""
    crashed = short_lease(open_queue(queue_url))
    survivor = short_lease(open_queue(queue_url))
    try:
        crashed.put([(7, b"x"), (7, b"y")])
        taken = crashed.claim(10, 0.1)
        assert len(taken) == 2
        crashed.close()  # dies without acking
        import time

        time.sleep(0.3)
        again = survivor.claim(10, 1.0)
        assert sorted(m.payload for m in again) == [b"x", b"y"]
        survivor.ack(again)
        assert survivor.pending() == 0
    finally:
        survivor.close()


def test_put_async(queue_url: str) -> None:
    queue = open_queue(queue_url)
    try:
        asyncio.run(queue.put_async([(3, b"async")]))
        assert [m.payload for m in queue.claim(5, 0.5)] == [b"async"]
    finally:
        queue.close()


def test_sqlite_messages_survive_reopen_and_recover_releases_leases(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path)
    queue.put([(1, b"durable")])
    assert len(queue.claim(5, 0)) == 1
    queue.close()
    reopened = SQLiteQueue(path)
    try:
        assert reopened.claim(5, 0) == []  # still leased by the "dead" worker
        assert reopened.recover() == 1
        assert [m.payload for m in reopened.claim(5, 0)] == [b"durable"]
    finally:
        reopened.close()


def test_sqlite_group_commit_batches_concurrent_requests(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    try:
        requests, per_request = 200, 5
        barrier = threading.Barrier(20)

        def producer(n: int) -> None:
            barrier.wait()
            for i in range(requests // 20):
                queue.put([(1, f"{n}-{i}-{j}".encode()) for j in range(per_request)])

        threads = [threading.Thread(target=producer, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert queue.pending() == requests * per_request
        # Every request waited for its own commit, yet they shared transactions.
        assert queue.groups_committed < requests
    finally:
        queue.close()


def test_sqlite_put_after_close_fails_loudly(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    queue.close()
    with pytest.raises(RuntimeError):
        queue.put([(1, b"late")])


@pytest.mark.redis
def test_redis_streams_are_isolated_per_name() -> None:
    _redis_or_skip()
    a = RedisQueue.from_url(f"{REDIS_URL}?stream=faultline-test-{uuid.uuid4().hex}")
    b = RedisQueue.from_url(f"{REDIS_URL}?stream=faultline-test-{uuid.uuid4().hex}")
    try:
        a.put([(1, b"only-a")])
        assert b.claim(10, 0.05) == [] and [m.payload for m in a.claim(10, 0.5)] == [b"only-a"]
    finally:
        a.client.delete(a.stream)
        b.client.delete(b.stream)
        a.close()
        b.close()
