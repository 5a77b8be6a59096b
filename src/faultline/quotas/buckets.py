"""Token buckets for the project rate limit at capture: `value` events per `bucket_size_minutes`, refilled
continuously (value / window per second), so a project that stays under its rate is never refused and one that
bursts gets 429 with the seconds until enough tokens are back.

A request is admitted when the bucket holds at least `min(n, capacity)` tokens and then takes all `n` (the bucket
may go into debt): a batch larger than the whole capacity still gets through once the bucket is full, and the debt
keeps the long-run rate at the limit. One bucket per process (`LocalBuckets`), or one shared by every ingest
process through Redis (`RedisBuckets`, a Lua script so the read-refill-take is atomic and uses Redis' clock).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from faultline.quotas.limits import WindowLimit


class Buckets(Protocol):
    def take(self, project_id: int, limit: WindowLimit, n: int) -> float | None:
        """None when `n` events are admitted, else the seconds until they would be."""
        ...


def _rate(limit: WindowLimit) -> float:
    return limit.value / limit.window.total_seconds()


def _wait(needed: float, rate: float) -> float:
    return math.inf if rate <= 0 else max(needed / rate, 0.001)


class LocalBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_projects: int = 100_000) -> None:
        self.clock = clock
        self.max_projects = max_projects
        self._state: dict[int, tuple[float, float, WindowLimit]] = {}  # project → (tokens, at, limit)
        self._lock = threading.Lock()

    def take(self, project_id: int, limit: WindowLimit, n: int) -> float | None:
        rate, capacity = _rate(limit), float(limit.value)
        now = self.clock()
        with self._lock:
            tokens, at, known = self._state.get(project_id, (capacity, now, limit))
            if known != limit:  # the settings changed: start from a full bucket of the new size
                tokens, at = capacity, now
            tokens = min(capacity, tokens + (now - at) * rate)
            needed = min(float(n), capacity)
            if capacity <= 0 or tokens < needed:
                self._state[project_id] = (tokens, now, limit)
                return _wait(needed - tokens, rate) if capacity > 0 else math.inf
            if len(self._state) >= self.max_projects and project_id not in self._state:
                self._state.clear()
            self._state[project_id] = (tokens - n, now, limit)
            return None


# KEYS[1] bucket hash; ARGV capacity, rate per second, n. Returns -1 when admitted, else milliseconds to wait.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'capacity')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or tonumber(state[3]) ~= capacity then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + (now - at) * rate)
local needed = math.min(n, capacity)
local ttl = math.ceil(capacity / rate) + 60
if capacity <= 0 or tokens < needed then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now), 'capacity', tostring(capacity))
  redis.call('EXPIRE', KEYS[1], ttl)
  if capacity <= 0 or rate <= 0 then return 2147483647 end
  return math.ceil((needed - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - n), 'at', tostring(now), 'capacity', tostring(capacity))
redis.call('EXPIRE', KEYS[1], ttl)
return -1
"""


class RedisBuckets:
    """Buckets shared by every process that captures into the same Redis (the scale-out topology)."""

    def __init__(self, client: Any, prefix: str = "faultline:ratelimit:project:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    @classmethod
    def from_url(cls, url: str) -> RedisBuckets:
        import redis  # only the Redis topology needs the client

        base = url.split("?", 1)[0]
        return cls(redis.Redis.from_url(base, socket_timeout=5, socket_connect_timeout=5))

    def take(self, project_id: int, limit: WindowLimit, n: int) -> float | None:
        waited = int(self._take(keys=[f"{self.prefix}{project_id}"], args=[limit.value, repr(_rate(limit)), n]))
        if waited < 0:
            return None
        return math.inf if waited >= 2147483647 else waited / 1000
