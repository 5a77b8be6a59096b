"""Redis Streams queue for the scale-out topology: N capture nodes XADD, M workers share one consumer group.

A message stays in the group's pending-entries list (PEL) from XREADGROUP until the worker XACKs it *after* its
digest transaction committed. A worker that crashed leaves entries pending; any worker reclaims entries idle longer
than the lease (XPENDING … IDLE, then XCLAIM) before reading new ones, so nothing acked by capture is ever lost
(within Redis' own durability: run it with `appendonly yes` if a Redis restart must not lose the queue).

Three things are done by Lua scripts, because each must be atomic across processes:
* `put` checks the limits and appends: XLEN is O(1) and the payload bytes are a running total in `<stream>:bytes`
  (raised here, lowered by `ack`), so N capture nodes can never overshoot the bound together;
* reclaiming reads each entry's delivery count from XPENDING and XCLAIMs it in the same step, so `attempts` is the
  real count Redis keeps (XAUTOCLAIM does not report it) and the worker can dead-letter after a fixed number;
* removing dead consumers (idle past `dead_consumer_seconds` *and* holding no pending entry) checks and deletes in
  one step: a consumer that read something in between would otherwise lose its pending entries with it.

`release` uses XCLAIM's IDLE to make an entry reclaimable after the requested delay instead of after the full lease,
and its RETRYCOUNT to give back an attempt that was not the message's fault (the database was down).

URL: `redis://host:6379/0?stream=faultline:ingest&group=digest` (both query parameters optional).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio.to_thread
import redis

from faultline.ingest.queue.base import Message, QueueFull, QueueLimits

DEFAULT_STREAM = "faultline:ingest"
DEFAULT_GROUP = "digest"
DEFAULT_DEAD_CONSUMER_SECONDS = 3600.0
_BLOCK_SLICE_SECONDS = 0.5

# KEYS: stream, bytes counter. ARGV: max events (-1 = none), max bytes (-1 = none), bytes added, then
# project id / payload pairs. Returns {1 | 0 (refused), events, bytes} as they were before this call.
_PUT = """
local events = redis.call('XLEN', KEYS[1])
local used = 0
if events == 0 then
  redis.call('SET', KEYS[2], 0)
else
  used = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local adding = (#ARGV - 3) / 2
local more = tonumber(ARGV[3])
local max_events, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
if (max_events >= 0 and events + adding > max_events) or (max_bytes >= 0 and used + more > max_bytes) then
  return {0, events, used}
end
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '*', 'p', ARGV[i], 'd', ARGV[i + 1])
end
redis.call('INCRBY', KEYS[2], more)
return {1, events, used}
"""

# KEYS: stream, bytes counter. ARGV: group, then id / payload size pairs. Only entries really deleted (another
# worker may have acked the same one) lower the byte total.
_ACK = """
local freed = 0
for i = 2, #ARGV, 2 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    freed = freed + tonumber(ARGV[i + 1])
  end
end
if freed > 0 and redis.call('DECRBY', KEYS[2], freed) < 0 then
  redis.call('SET', KEYS[2], 0)
end
return freed
"""

# KEYS: stream. ARGV: group, consumer, lease (ms), count. Returns {pending, claimed}: XPENDING's extended rows
# {id, consumer, idle, deliveries} of the entries idle past the lease, and XCLAIM's entries (which adds one
# delivery to each). Claimed in slices: Lua's unpack() takes at most a few thousand values.
_RECLAIM = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
local claimed = {}
local ids = {}
for i = 1, #pending do
  ids[#ids + 1] = pending[i][1]
  if #ids == 1000 or i == #pending then
    local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ids))
    for j = 1, #got do claimed[#claimed + 1] = got[j] end
    ids = {}
  end
end
return {pending, claimed}
"""

# KEYS: stream. ARGV: group, this consumer, idle threshold (ms). Removes consumers idle past the threshold that hold
# no pending entry; returns their names.
_REAP = """
local removed = {}
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #row, 2 do info[row[i]] = row[i + 1] end
  if info['name'] ~= ARGV[2] and tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisQueue:
    backend = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        lease_seconds: float = 60.0,
        limits: QueueLimits | None = None,
        dead_consumer_seconds: float = DEFAULT_DEAD_CONSUMER_SECONDS,
    ) -> None:
        self.client = client
        self.stream = stream
        self.bytes_key = f"{stream}:bytes"
        self.group = group
        self.lease_ms = int(lease_seconds * 1000)
        self.limits = limits or QueueLimits()
        self.dead_consumer_ms = int(dead_consumer_seconds * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._group_ready = False
        self._next_reap = 0.0
        self._typical_size = 0  # bytes of a recent message, for sizing reads to a byte budget (`_within`)
        self._put_script = client.register_script(_PUT)
        self._ack_script = client.register_script(_ACK)
        self._reclaim_script = client.register_script(_RECLAIM)
        self._reap_script = client.register_script(_REAP)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisQueue:
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
        stream = params.pop("stream", DEFAULT_STREAM)
        group = params.pop("group", DEFAULT_GROUP)
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
        client = redis.Redis.from_url(clean, socket_timeout=30, socket_connect_timeout=5)
        return cls(client, stream=stream, group=group, **kwargs)

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # Id 0: entries added before the group existed (capture started first) are still delivered.
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    # -- producer side -----------------------------------------------------------------------------------------

    def put(self, items: Sequence[tuple[int, bytes]]) -> None:
        if not items:
            return
        size = sum(len(payload) for _, payload in items)
        args: list[Any] = [
            -1 if self.limits.max_events is None else self.limits.max_events,
            -1 if self.limits.max_bytes is None else self.limits.max_bytes,
            size,
        ]
        for project_id, payload in items:
            args += [str(project_id), payload]
        accepted, events, used = self._put_script(keys=[self.stream, self.bytes_key], args=args)
        if not accepted:
            raise QueueFull(int(events), int(used), self.limits)

    async def put_async(self, items: Sequence[tuple[int, bytes]]) -> None:
        await anyio.to_thread.run_sync(self.put, items)

    # -- consumer side -----------------------------------------------------------------------------------------

    @staticmethod
    def _message(entry_id: bytes | str, fields: Any, attempts: int) -> Message | None:
        if not fields:  # entry deleted while pending
            return None
        if isinstance(fields, list):  # raw script reply: flat [field, value, …]
            fields = dict(zip(fields[::2], fields[1::2], strict=False))
        try:
            project_id = int(fields[b"p"])
            payload = fields[b"d"]
        except (KeyError, ValueError):
            payload, project_id = b"", 0
        return Message(id=_text(entry_id), project_id=project_id, payload=payload, attempts=attempts)

    def _reclaim(self, max_items: int) -> list[Message]:
        pending, claimed = self._reclaim_script(
            keys=[self.stream], args=[self.group, self.consumer, self.lease_ms, max_items]
        )
        deliveries = {_text(row[0]): int(row[3]) for row in pending}
        messages = []
        for entry in claimed:
            # XCLAIM adds one delivery. Entries deleted while pending come back as nil (Redis < 7) or not at all.
            message = self._message(entry[0], entry[1], deliveries.get(_text(entry[0]), 0) + 1) if entry else None
            if message is not None:
                messages.append(message)
        gone = deliveries.keys() - {m.id for m in messages}
        if gone:  # Redis 7 already dropped them from the pending list; older versions need the XACK
            self.client.xack(self.stream, self.group, *gone)
        return messages

    def _within(self, messages: list[Message], max_bytes: int | None) -> list[Message]:
        """The first messages whose payloads fit `max_bytes` (at least one); the rest go back at once, their
        delivery not counted. A stream cannot be read by size, so the next read asks for as many messages as the
        budget holds at the sizes just seen: the over-read is bounded by one read after the sizes change."""
        if max_bytes is None or not messages:
            return messages
        taken, total = 0, 0
        for message in messages:
            if taken and total + len(message.payload) > max_bytes:
                break
            taken, total = taken + 1, total + len(message.payload)
        self._typical_size = max(1, total // taken)
        self.release(messages[taken:], count_attempt=False)
        return messages[:taken]

    def _count_for(self, max_items: int, max_bytes: int | None) -> int:
        if max_bytes is None or not self._typical_size:
            return max_items
        return max(1, min(max_items, max_bytes // self._typical_size + 1))

    def claim(self, max_items: int, wait_seconds: float, max_bytes: int | None = None) -> list[Message]:
        self._ensure_group()
        if time.monotonic() >= self._next_reap:
            self.remove_dead_consumers()
        deadline = time.monotonic() + wait_seconds
        while True:
            reclaimed = self._within(self._reclaim(self._count_for(max_items, max_bytes)), max_bytes)
            if reclaimed:
                return reclaimed
            # A blocked XREADGROUP wakes for new entries only, not for released ones coming due: block in slices.
            remaining = deadline - time.monotonic()
            block = max(1, int(min(remaining, _BLOCK_SLICE_SECONDS) * 1000)) if remaining > 0 else None
            response = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self._count_for(max_items, max_bytes), block=block
            )
            messages = self._within(
                [
                    message
                    for _stream, entries in response or []
                    for eid, fields in entries
                    if (message := self._message(eid, fields, 1)) is not None
                ],
                max_bytes,
            )
            if messages or time.monotonic() >= deadline:
                return messages

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        args: list[Any] = [self.group]
        for message in messages:
            args += [message.id, len(message.payload)]
        self._ack_script(keys=[self.stream, self.bytes_key], args=args)

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0, *, count_attempt: bool = True) -> None:
        """Streams have no "unclaim": the entries stay pending with us, but XCLAIM … IDLE back-dates their last
        delivery so that they become reclaimable `delay_seconds` from now instead of a whole lease from now. JUSTID
        leaves the delivery count alone; RETRYCOUNT lowers it again when the attempt should not count."""
        if not messages:
            return
        idle = max(0, self.lease_ms - int(delay_seconds * 1000))
        by_count: dict[int | None, list[str]] = defaultdict(list)
        for message in messages:
            by_count[None if count_attempt else max(0, message.attempts - 1)].append(message.id)
        for retrycount, ids in by_count.items():
            self.client.xclaim(
                self.stream, self.group, self.consumer, 0, ids, idle=idle, retrycount=retrycount, justid=True
            )

    def remove_dead_consumers(self) -> list[str]:
        """Delete the group's consumers that have been idle longer than `dead_consumer_seconds` and hold nothing
        (each worker process is a new consumer, so every restart leaves one behind); their names."""
        self._ensure_group()
        self._next_reap = time.monotonic() + min(60.0, self.dead_consumer_ms / 2000)
        removed = self._reap_script(keys=[self.stream], args=[self.group, self.consumer, self.dead_consumer_ms])
        return [_text(name) for name in removed]

    def recover(self) -> int:
        """Dead consumers' entries are reclaimed lazily by `claim` once their lease expired; forget consumers that
        are gone for good, and report how many entries are pending."""
        self.remove_dead_consumers()
        info = self.client.xpending(self.stream, self.group)
        return int(info.get("pending", 0)) if isinstance(info, dict) else 0

    def pending(self) -> int:
        self._ensure_group()
        return int(self.client.xlen(self.stream))

    def usage(self) -> tuple[int, int]:
        """(events, payload bytes) in the stream, as the limits see them."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xlen(self.stream)
        pipe.get(self.bytes_key)
        events, size = pipe.execute()
        return int(events), int(size or 0) if events else 0

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()
