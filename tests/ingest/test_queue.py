"""Both queue backends behind one contract: durable put, leased claim, ack, redelivery after a crash, a bound on what
the queue holds, delivery counts. The SQLite queue's group commit is checked by counting transactions; the Redis one
runs against the machine's real Redis (a unique stream per test)."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from faultline.ingest.queue import Queue, QueueFull, QueueLimits, open_queue
from faultline.ingest.queue.failures import DISK_FULL, QUEUE_FULL, QUEUE_UNAVAILABLE, classify
from faultline.ingest.queue.redis import RedisQueue
from faultline.ingest.queue.sqlite import SQLiteQueue
from tests.support.live_server import wait_until

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
    redis.Redis.from_url(REDIS_URL).delete(stream, f"{stream}:bytes")


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


def test_sqlite_writer_keeps_no_payload_once_written(tmp_path: Path) -> None:
    """Once a request is answered the writer lets go of its payloads, though no further request comes: it used to
    keep the last group's (megabytes after a large batch) in a loop variable while it slept, and with them pages of
    every heap they sat in, which no malloc_trim could return (a burst settled ~70 MiB higher)."""
    queue = SQLiteQueue(tmp_path / "q.db")
    try:
        payload = uuid.uuid4().bytes * 1000  # an object only this test and the queue can refer to
        alone = sys.getrefcount(payload)
        queue.put([(1, payload), (1, b"other")])
        # put() returns when the answer is given; the writer finishes its turn right after.
        assert wait_until(lambda: sys.getrefcount(payload) == alone, timeout_s=5, interval_s=0.05), (
            sys.getrefcount(payload),
            alone,
        )
        assert [m.payload for m in queue.claim(5, 0)] == [payload, b"other"]
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


# -- the bound ------------------------------------------------------------------------------------------------------


def test_bound_by_events_reached_exactly_then_refused_whole(queue_url: str) -> None:
    queue = open_queue(queue_url, limits=QueueLimits(max_events=3))
    try:
        queue.put([(1, b"a"), (1, b"b")])
        queue.put([(1, b"c")])  # exactly at the bound: accepted
        assert queue.pending() == 3
        with pytest.raises(QueueFull):
            queue.put([(1, b"d")])  # one more: refused
        assert queue.pending() == 3
        taken = queue.claim(1, 0.5)
        queue.ack(taken)
        with pytest.raises(QueueFull):
            queue.put([(1, b"e"), (1, b"f")])  # a request that does not fit is refused whole, never cut
        queue.put([(1, b"e")])
        payloads = [m.payload for m in queue.claim(10, 0.5)]
        assert payloads == [b"b", b"c", b"e"]  # nothing acked was lost, nothing refused was kept
    finally:
        queue.close()


def test_sqlite_disk_full_is_reported_as_disk_full_and_loses_nothing(tmp_path: Path) -> None:
    """A real SQLITE_FULL (the file may not grow past `max_page_count` pages): SQLite has already rolled the
    transaction back, so a second ROLLBACK used to replace the error with "cannot rollback - no transaction is
    active"."""
    queue = SQLiteQueue(tmp_path / "queue.db")
    try:
        queue.put([(1, b"kept-%d" % i) for i in range(10)])
        pages = queue._write_conn.execute("PRAGMA page_count").fetchone()[0]
        queue._write_conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(sqlite3.OperationalError) as info:
            queue.put([(1, bytes(3000)) for _ in range(50)])
        assert str(info.value) == "database or disk is full"
        failure = classify(info.value)
        assert (failure.code, failure.reason) == (DISK_FULL, "disk full: the queue's SQLite file cannot grow")
        assert queue.pending() == 10
        assert queue.ping()  # the writer thread survived

        queue._write_conn.execute("PRAGMA max_page_count = 1073741823")
        queue.put([(1, b"after")])
        messages = queue.claim(100, wait_seconds=0)
        assert [m.payload for m in messages] == [b"kept-%d" % i for i in range(10)] + [b"after"]
    finally:
        queue.close()


def test_bound_by_bytes_reached_exactly_then_refused(queue_url: str) -> None:
    queue = open_queue(queue_url, limits=QueueLimits(max_bytes=10))
    try:
        queue.put([(1, b"12345"), (1, b"6789")])
        queue.put([(1, b"0")])  # 10 bytes: exactly at the bound
        with pytest.raises(QueueFull) as refused:
            queue.put([(1, b"x")])
        assert (refused.value.events, refused.value.size) == (3, 10)
        queue.ack(queue.claim(1, 0.5))  # frees 5 bytes
        queue.put([(1, b"abcde")])
        with pytest.raises(QueueFull):
            queue.put([(1, b"y")])
        assert queue.pending() == 3
    finally:
        queue.close()


def test_bound_holds_under_concurrent_producers(queue_url: str) -> None:
    """20 threads racing for the last slots (one group commit, one Redis script at a time): exactly the bound."""
    queue = open_queue(queue_url, limits=QueueLimits(max_events=50))
    accepted, refused = [], []
    barrier = threading.Barrier(20)

    def producer(n: int) -> None:
        barrier.wait()
        for i in range(5):
            try:
                queue.put([(1, f"{n}-{i}".encode())])
                accepted.append(1)
            except QueueFull:
                refused.append(1)

    try:
        threads = [threading.Thread(target=producer, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert (len(accepted), len(refused), queue.pending()) == (50, 50, 50)
    finally:
        queue.close()


def test_capture_and_worker_processes_share_the_bound(queue_url: str) -> None:
    """`serve --no-worker` and `faultline worker` open the queue separately: the worker's acks free room for capture
    (the running totals live in the queue file / in Redis, not in one process)."""
    capture = open_queue(queue_url, limits=QueueLimits(max_events=2, max_bytes=1000))
    worker = open_queue(queue_url)
    try:
        capture.put([(1, b"a"), (1, b"b")])
        with pytest.raises(QueueFull):
            capture.put([(1, b"c")])
        worker.ack(worker.claim(10, 0.5))
        capture.put([(1, b"c"), (1, b"d")])
        assert worker.pending() == capture.pending() == 2
    finally:
        capture.close()
        worker.close()


def test_sqlite_usage_is_recounted_when_the_file_is_opened(tmp_path: Path) -> None:
    """A queue file from before the bound existed (or written by an older process) gets exact totals on open."""
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path)
    queue.put([(1, b"abc"), (1, b"de")])
    with queue._read_lock:
        queue._read_conn.execute("DROP TABLE queue_usage")
    queue.close()
    reopened = SQLiteQueue(path, limits=QueueLimits(max_bytes=6))
    try:
        assert reopened.usage() == (2, 5)
        reopened.put([(1, b"f")])
        with pytest.raises(QueueFull):
            reopened.put([(1, b"g")])
    finally:
        reopened.close()


def test_acking_twice_frees_the_room_once(queue_url: str) -> None:
    """Two workers may ack one message (lease expired in between): the totals must not go below the truth."""
    queue = open_queue(queue_url, limits=QueueLimits(max_events=2))
    try:
        queue.put([(1, b"a"), (1, b"b")])
        first = queue.claim(1, 0.5)
        queue.ack(first)
        queue.ack(first)
        assert queue.pending() == 1
        queue.put([(1, b"c")])
        with pytest.raises(QueueFull):
            queue.put([(1, b"d")])
    finally:
        queue.close()


# -- deliveries -----------------------------------------------------------------------------------------------------


def test_released_messages_count_deliveries_and_come_back_after_the_delay(queue_url: str) -> None:
    queue = open_queue(queue_url)
    try:
        queue.put([(1, b"poison")])
        seen = []
        for _ in range(3):
            (message,) = queue.claim(1, 0.5)
            seen.append(message.attempts)
            queue.release([message], delay_seconds=0.3)
            assert queue.claim(1, 0) == []  # not before the delay…
            time.sleep(0.35)  # …but long before a 60 s lease
        assert seen == [1, 2, 3]
        (message,) = queue.claim(1, 0.5)
        queue.release([message], delay_seconds=0, count_attempt=False)  # e.g. the database was down
        (message,) = queue.claim(1, 0.5)
        assert message.attempts == 4
    finally:
        queue.close()


@pytest.mark.redis
def test_redis_attempts_are_the_streams_delivery_counts_also_after_a_crash() -> None:
    """A consumer that dies holding an entry: the survivor's reclaim reports Redis' own delivery count."""
    _redis_or_skip()
    stream = f"faultline-test-{uuid.uuid4().hex}"
    url = f"{REDIS_URL}?stream={stream}"
    survivor = RedisQueue.from_url(url, lease_seconds=0.2)
    try:
        survivor.put([(1, b"x")])
        for expected in (1, 2, 3):
            crashed = RedisQueue.from_url(url, lease_seconds=0.2)
            (message,) = crashed.claim(1, 0.5) if expected == 1 else _after_lease(crashed)
            assert message.attempts == expected
            crashed.close()  # dies without ack or release
        (message,) = _after_lease(survivor)
        row = survivor.client.xpending_range(stream, survivor.group, min="-", max="+", count=1)[0]
        assert message.attempts == row["times_delivered"] == 4
    finally:
        survivor.client.delete(stream, f"{stream}:bytes")
        survivor.close()


def _after_lease(queue: RedisQueue) -> list:
    time.sleep(0.25)
    return queue.claim(1, 0.5)


@pytest.mark.redis
def test_redis_dead_consumers_are_removed_from_the_group() -> None:
    """Every worker process is a new consumer. One that is gone (idle past the threshold, nothing pending) is
    deleted; one idle as long but still holding an entry is kept, so its entry stays reclaimable."""
    _redis_or_skip()
    stream = f"faultline-test-{uuid.uuid4().hex}"
    url = f"{REDIS_URL}?stream={stream}"
    live = RedisQueue.from_url(url, dead_consumer_seconds=0.3)
    dead = RedisQueue.from_url(url)
    holding = RedisQueue.from_url(url)
    try:
        live.put([(1, b"a"), (1, b"b")])
        dead.ack(dead.claim(1, 0.5))
        assert len(holding.claim(1, 0.5)) == 1
        names = {c["name"].decode() for c in live.client.xinfo_consumers(stream, live.group)}
        assert names == {dead.consumer, holding.consumer}
        time.sleep(0.4)
        live.claim(1, 0)  # workers look for dead consumers as they claim (at most once a minute)
        names = {c["name"].decode() for c in live.client.xinfo_consumers(stream, live.group)}
        assert dead.consumer not in names and holding.consumer in names
        assert live.remove_dead_consumers() == []
    finally:
        for queue in (live, dead, holding):
            queue.close()
        redis.Redis.from_url(REDIS_URL).delete(stream, f"{stream}:bytes")


def test_queue_failures_are_classified() -> None:
    assert classify(OSError(errno.ENOSPC, "No space left on device")).code == DISK_FULL
    assert classify(redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'.")).code == QUEUE_FULL
    other = classify(redis.ConnectionError("Connection refused"))
    assert (other.code, other.error) == (QUEUE_UNAVAILABLE, "ConnectionError: Connection refused")


def test_health_reads_never_wait_for_the_consumers_transactions(tmp_path: Path) -> None:
    """The consumer's claim/ack transactions wait for the writer's group commit and their own fsync (seconds on a
    busy disk); `/_health`'s queue ping and backlog read must not queue up behind them (6.7 s measured before)."""
    queue = SQLiteQueue(tmp_path / "queue.db")
    try:
        queue.put([(1, b"{}")] * 3)
        answers: list[object] = []
        with queue._read_lock:  # a claim or ack in progress, stuck on the disk
            reader = threading.Thread(target=lambda: answers.extend([queue.ping(), queue.pending(), queue.usage()]))
            reader.start()
            reader.join(timeout=10)
            assert not reader.is_alive(), "health reads waited for the consumer's transaction"
        assert answers[:2] == [True, 3] and answers[2][0] == 3  # type: ignore[index]
    finally:
        queue.close()


def test_claim_by_bytes_takes_what_fits_and_never_less_than_one(queue_url: str) -> None:
    """A digest batch's memory follows its payload bytes: `max_bytes` bounds them, in queue order, every message
    delivered once and its attempts not counted for the ones put back (Redis reads, then returns the excess)."""
    queue = open_queue(queue_url)
    try:
        sizes = [400, 300, 200, 5_000, 100, 100, 100]
        queue.put([(1, bytes([65 + i]) * size) for i, size in enumerate(sizes)])
        batches = []
        while True:
            batch = queue.claim(100, 0.2, max_bytes=1_000)
            if not batch:
                break
            batches.append([len(m.payload) for m in batch])
            assert all(m.attempts == 1 for m in batch), [m.attempts for m in batch]
            queue.ack(batch)
        assert [size for batch in batches for size in batch] == sizes  # each once, in queue order
        assert all(sum(batch) <= 1_000 or len(batch) == 1 for batch in batches), batches
        assert batches[:2] == [[400, 300, 200], [5_000]]  # what fits; a large one alone (never an empty batch)
        if isinstance(queue, SQLiteQueue):  # Redis sizes its reads by what it just saw, so it may split the rest
            assert batches[2:] == [[100, 100, 100]]
        assert queue.pending() == 0
        queue.put([(1, b"x" * 10), (1, b"y" * 10)])
        assert [m.payload for m in queue.claim(100, 0.2)] == [b"x" * 10, b"y" * 10]  # no budget: the count rules
    finally:
        queue.close()


def test_claim_by_bytes_at_the_edge(queue_url: str) -> None:
    queue = open_queue(queue_url)
    try:
        queue.put([(1, b"a" * 500), (1, b"b" * 500), (1, b"c" * 1)])
        exact = queue.claim(100, 0.2, max_bytes=1_000)
        assert [len(m.payload) for m in exact] == [500, 500]  # exactly the budget fits
        rest = queue.claim(100, 0.2, max_bytes=1_000)
        assert [m.payload for m in rest] == [b"c"]
        queue.ack(exact + rest)
    finally:
        queue.close()
