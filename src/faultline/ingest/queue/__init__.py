"""Durable ingest queues, chosen by `FAULTLINE_QUEUE_URL`: `sqlite:///path` (embedded) or `redis://…` (Streams)."""

from __future__ import annotations

from urllib.parse import urlsplit

from faultline.ingest.queue.base import Message, Queue


def open_queue(url: str) -> Queue:
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        from faultline.ingest.queue.sqlite import SQLiteQueue

        return SQLiteQueue.from_url(url)
    if scheme in ("redis", "rediss"):
        from faultline.ingest.queue.redis import RedisQueue

        return RedisQueue.from_url(url)
    raise ValueError(f"unsupported queue URL scheme {scheme!r}")


__all__ = ["Message", "Queue", "open_queue"]
