"""Everything ingestion keeps for the life of the app: settings, token cache, the queue handle, diagnostics, the
gate that bounds concurrent large decodes, the memory returner used after them, and whether ingestion is degraded
(queue writes failing, backlog over the threshold) for `/_health` and diagnostics.

Ingestion starts no threads and no worker: the composition root (`faultline.runtime`) owns the queue, runs the
diagnostics flusher and the memory returner as background services, and decides whether a digest worker runs in
this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faultline.config import Settings
from faultline.db import Database
from faultline.ingest.diagnostics import Diagnostics
from faultline.ingest.inflight import BodyBudget
from faultline.ingest.memory import MemoryReturner
from faultline.ingest.project_limit import ProjectLimiter
from faultline.ingest.queue import Queue, QueueHandle
from faultline.ingest.queue.failures import WriteHealth
from faultline.ingest.sentry_auth import DsnKeyCache
from faultline.ingest.tokens import TokenCache

log = logging.getLogger(__name__)

_BACKLOG_CACHE_SECONDS = 2.0  # a health check every second must not count a big SQLite queue every second


class IngestState:
    def __init__(self, settings: Settings, db: Database, queue: QueueHandle) -> None:
        self.settings = settings
        self.db = db
        self.queue_handle = queue
        self.tokens = TokenCache(db)
        self.dsn_keys = DsnKeyCache(db)
        self.project_limits = ProjectLimiter.for_queue(db, settings.queue_url)
        self.diagnostics = Diagnostics()
        self.write_health = WriteHealth()
        self._backlog: tuple[float, int | None] = (float("-inf"), None)
        # Large bodies are decoded and parsed in threads, at most this many at once: peak memory is set here.
        self.decode_slots = asyncio.Semaphore(settings.max_concurrent_decodes)
        self.memory = MemoryReturner()
        # Every capture body in flight together: bounded whatever the number of connections.
        self.body_budget = BodyBudget(settings.max_inflight_body_bytes)

    @property
    def queue(self) -> Queue:
        return self.queue_handle.get()

    def queue_ping(self) -> bool:
        return self.queue.ping()

    def backlog(self) -> int | None:
        """Events waiting in the queue, at most a couple of seconds old; None when this process has not opened the
        queue (a `--no-worker` server that has not captured yet) or it cannot be read. A process that digests opened
        the queue when its worker started."""
        if not self.queue_handle.opened:
            return None
        checked_at, value = self._backlog
        if time.monotonic() - checked_at < _BACKLOG_CACHE_SECONDS:
            return value
        try:
            value = self.queue.pending()
        except Exception:  # an unreachable queue is reported by the queue probe
            value = None
        self._backlog = (time.monotonic(), value)
        return value

    def degradations(self) -> list[dict[str, Any]]:
        """Why ingestion is degraded, for `/_health` and the diagnostics report; empty when it is not."""
        reasons: list[dict[str, Any]] = []
        trouble = self.write_health.current()
        if trouble is not None:
            reasons.append(
                {
                    "code": trouble.failure.code,
                    "detail": f"Queue writes fail since {trouble.since.isoformat(timespec='seconds')} "
                    f"({trouble.failures} failed): {trouble.failure.reason} ({trouble.failure.error}). Capture "
                    "answers 503 until a write works again; events already queued are kept.",
                    "since": trouble.since,
                }
            )
        threshold = self.settings.health_backlog_threshold
        pending = self.backlog() if threshold else None
        if pending is not None and pending > threshold:
            reasons.append(
                {
                    "code": "queue_backlog",
                    "detail": f"{pending} events wait in the queue, more than FAULTLINE_HEALTH_BACKLOG_THRESHOLD="
                    f"{threshold}: the digest worker is behind or not running.",
                    "since": None,
                }
            )
        return reasons
