"""Token buckets of the project rate limit: refill at value / window, debt for oversized batches, the wait the 429
announces, and one bucket shared through Redis by several ingest processes (two clients here). Time is injected
(the in-process clock); Redis uses its own clock, so its test only checks what holds whatever the time."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import redis

from faultline.quotas.buckets import LocalBuckets, RedisBuckets
from faultline.quotas.limits import WindowLimit

REDIS_URL = "redis://127.0.0.1:6379/0"
TEN_PER_MINUTE = WindowLimit(10, dt.timedelta(minutes=1))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_local_bucket_refills_continuously_and_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    assert all(buckets.take(1, TEN_PER_MINUTE, 1) is None for _ in range(10))
    wait = buckets.take(1, TEN_PER_MINUTE, 1)
    assert wait == pytest.approx(6.0)  # one token every 6 s
    assert buckets.take(2, TEN_PER_MINUTE, 1) is None  # another project has its own bucket
    clock.now += 6.0
    assert buckets.take(1, TEN_PER_MINUTE, 1) is None
    assert buckets.take(1, TEN_PER_MINUTE, 1) == pytest.approx(6.0)


def test_a_batch_larger_than_the_bucket_passes_when_full_and_leaves_debt() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    assert buckets.take(1, TEN_PER_MINUTE, 25) is None  # full bucket: admitted, 15 tokens of debt
    assert buckets.take(1, TEN_PER_MINUTE, 1) == pytest.approx(96.0)  # 16 tokens to earn back at one per 6 s
    clock.now += 96.0
    assert buckets.take(1, TEN_PER_MINUTE, 1) is None


def test_changed_settings_start_a_fresh_bucket() -> None:
    buckets = LocalBuckets(Clock())
    assert buckets.take(1, TEN_PER_MINUTE, 10) is None
    assert buckets.take(1, TEN_PER_MINUTE, 1) is not None
    assert buckets.take(1, WindowLimit(20, dt.timedelta(minutes=1)), 1) is None
    assert buckets.take(1, WindowLimit(0, dt.timedelta(minutes=1)), 1) == float("inf")  # 0 = refuse everything


@pytest.mark.redis
def test_redis_bucket_is_shared_by_every_process() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS UNAVAILABLE — {exc}")
    prefix = f"faultline-test-{uuid.uuid4().hex}:"
    first, second = (RedisBuckets(redis.Redis.from_url(REDIS_URL), prefix=prefix) for _ in range(2))
    hour = WindowLimit(6, dt.timedelta(hours=1))  # refill of one token per 10 minutes: none during the test
    try:
        results = [(first if n % 2 else second).take(7, hour, 1) for n in range(6)]
        assert results == [None] * 6
        wait = first.take(7, hour, 1)
        assert wait is not None and 0 < wait <= 600
        assert second.take(7, hour, 1) is not None  # the other process sees the same empty bucket
        assert second.take(8, hour, 1) is None  # per project
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
