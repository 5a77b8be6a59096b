"""Durable ingest queues, chosen by `FAULTLINE_QUEUE_URL`: `sqlite:///path` (embedded) or `redis://…` (Streams)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from faultline.ingest.queue.base import Message, Queue, QueueFull, QueueLimits

if TYPE_CHECKING:
    from faultline.config import Settings


def open_queue(url: str, *, limits: QueueLimits | None = None, dead_consumer_seconds: float | None = None) -> Queue:
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        from faultline.ingest.queue.sqlite import SQLiteQueue

        return SQLiteQueue.from_url(url, limits=limits)
    if scheme in ("redis", "rediss"):
        from faultline.ingest.queue.redis import RedisQueue

        extra = {} if dead_consumer_seconds is None else {"dead_consumer_seconds": dead_consumer_seconds}
        return RedisQueue.from_url(url, limits=limits, **extra)
    raise ValueError(f"unsupported queue URL scheme {scheme!r}")


def open_queue_for(settings: Settings) -> Queue:
    """The queue `FAULTLINE_QUEUE_URL` names, with the configured limits."""
    return open_queue(
        settings.queue_url,
        limits=QueueLimits(max_events=settings.queue_max_events, max_bytes=settings.queue_max_bytes),
        dead_consumer_seconds=settings.queue_dead_consumer_seconds,
    )


class QueueHandle:
    """The process's one connection to the queue, opened on first use and shared by capture and the digest worker.

    Opened lazily so that processes that never ingest (most unit tests, `faultline migrate`, a `--no-worker` server
    before its first capture) never create a queue file or a Redis connection; `opened` lets the health report tell
    "no queue here yet" from "queue unreachable".
    """

    def __init__(self, opener: Callable[[], Queue]) -> None:
        self._opener = opener
        self._queue: Queue | None = None
        self._lock = threading.Lock()

    def get(self) -> Queue:
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    self._queue = self._opener()
        return self._queue

    @property
    def opened(self) -> bool:
        return self._queue is not None

    def close(self) -> None:
        """Close the connection; the next `get()` opens a new one (an app whose lifespan runs again)."""
        with self._lock:
            queue, self._queue = self._queue, None
        if queue is not None:
            queue.close()


__all__ = ["Message", "Queue", "QueueFull", "QueueHandle", "QueueLimits", "open_queue", "open_queue_for"]
