"""Redis Streams queue for the scale-out topology: N capture nodes XADD, M workers share one consumer group.

A message stays in the group's pending-entries list from XREADGROUP until the worker XACKs it *after* its digest
transaction committed. A worker that crashed leaves entries pending; any worker reclaims entries idle longer than
the lease with XAUTOCLAIM before reading new ones, so nothing acked by capture is ever lost (within Redis' own
durability: run it with `appendonly yes` if a Redis restart must not lose the queue).

URL: `redis://host:6379/0?stream=faultline:ingest&group=digest` (both query parameters optional).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio.to_thread
import redis

from faultline.ingest.queue.base import Message

DEFAULT_STREAM = "faultline:ingest"
DEFAULT_GROUP = "digest"


class RedisQueue:
    backend = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        lease_seconds: float = 60.0,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.lease_ms = int(lease_seconds * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, **kwargs: float) -> RedisQueue:
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

    def put(self, items: Sequence[tuple[int, bytes]]) -> None:
        if not items:
            return
        pipe = self.client.pipeline(transaction=False)
        for project_id, payload in items:
            pipe.xadd(self.stream, {"p": str(project_id), "d": payload})
        pipe.execute()

    async def put_async(self, items: Sequence[tuple[int, bytes]]) -> None:
        await anyio.to_thread.run_sync(self.put, items)

    @staticmethod
    def _message(entry_id: bytes | str, fields: dict[bytes, bytes], attempts: int) -> Message | None:
        if not fields:  # entry deleted while pending (XAUTOCLAIM reports those as nil)
            return None
        try:
            project_id = int(fields[b"p"])
            payload = fields[b"d"]
        except (KeyError, ValueError):
            payload, project_id = b"", 0
        ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return Message(id=ident, project_id=project_id, payload=payload, attempts=attempts)

    def _reclaim(self, max_items: int) -> list[Message]:
        result = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self.lease_ms, start_id="0-0", count=max_items
        )
        claimed = result[1] if len(result) > 1 else []
        messages = [self._message(eid, fields, 2) for eid, fields in claimed]
        deleted = [m for m in claimed if not m[1]]
        if deleted:
            self.client.xack(self.stream, self.group, *[eid for eid, _ in deleted])
        return [m for m in messages if m is not None]

    def claim(self, max_items: int, wait_seconds: float) -> list[Message]:
        self._ensure_group()
        reclaimed = self._reclaim(max_items)
        if reclaimed:
            return reclaimed
        block = max(1, int(wait_seconds * 1000)) if wait_seconds > 0 else None
        response = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=max_items, block=block)
        messages: list[Message] = []
        for _stream, entries in response or []:
            for eid, fields in entries:
                message = self._message(eid, fields, 1)
                if message is not None:
                    messages.append(message)
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        ids = [m.id for m in messages]
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0) -> None:
        """Streams have no "unclaim": leaving entries pending makes them reclaimable once their lease expires."""

    def recover(self) -> int:
        """Dead consumers' entries are reclaimed lazily by `claim` (XAUTOCLAIM); report how many are pending."""
        self._ensure_group()
        info = self.client.xpending(self.stream, self.group)
        return int(info.get("pending", 0)) if isinstance(info, dict) else 0

    def pending(self) -> int:
        self._ensure_group()
        return int(self.client.xlen(self.stream))

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()
