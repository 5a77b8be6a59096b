"""The project rate limit at capture (`project_rate_limit_*` of `error_tracking/settings/`): token buckets that
answer 429 with `Retry-After`, so SDKs back off and retry instead of losing events.

The settings are cached per project for `SETTINGS_TTL_SECONDS`, so capture reads the database at most once per
project per few seconds (a limit changed in the API takes effect within that). What capture cannot know: the
fingerprint, the issue, and so whether a bypass rule would match once the event is digested — bypass rules exempt
events from the per-issue limit (decided in the digest), never from this one.
"""

from __future__ import annotations

import logging
import threading
import time

from faultline.db import Database
from faultline.quotas import limits
from faultline.quotas.buckets import Buckets, LocalBuckets, RedisBuckets
from faultline.quotas.limits import WindowLimit

log = logging.getLogger(__name__)

SETTINGS_TTL_SECONDS = 5.0
MAX_RETRY_AFTER = 3600


class ProjectLimiter:
    def __init__(self, db: Database, buckets: Buckets | None = None, *, ttl: float = SETTINGS_TTL_SECONDS) -> None:
        self.db = db
        self.buckets: Buckets = buckets or LocalBuckets()
        self.ttl = ttl
        self._settings: dict[int, tuple[WindowLimit | None, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_queue(cls, db: Database, queue_url: str) -> ProjectLimiter:
        """Shared buckets in Redis when the queue is Redis (several ingest processes), else in-process ones."""
        if queue_url.startswith(("redis://", "rediss://")):
            return cls(db, RedisBuckets.from_url(queue_url))
        return cls(db)

    @property
    def shared(self) -> bool:
        """Whether taking tokens is a network call (then capture runs it in a thread)."""
        return not isinstance(self.buckets, LocalBuckets)

    def cached(self, project_id: int) -> bool:
        hit = self._settings.get(project_id)
        return hit is not None and hit[1] > time.monotonic()

    def limit(self, project_id: int) -> WindowLimit | None:
        hit = self._settings.get(project_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        with self.db.read() as session:
            found = limits.project_limit(session, project_id)
        with self._lock:
            if len(self._settings) > 100_000:
                self._settings.clear()
            self._settings[project_id] = (found, time.monotonic() + self.ttl)
        return found

    def take(self, project_id: int, n: int) -> int | None:
        """None when `n` events of the project may be queued now, else the whole seconds to wait (`Retry-After`).
        Fails open: a limiter that cannot be asked (Redis down) admits, since refusing would lose nothing but
        the limit while the queue itself is what keeps events."""
        limit = self.limit(project_id)
        if limit is None or n <= 0:
            return None
        try:
            wait = self.buckets.take(project_id, limit, n)
        except Exception:
            log.exception("project rate limiter failed; admitting")
            return None
        if wait is None:
            return None
        return int(min(MAX_RETRY_AFTER, max(1, -(-wait // 1)))) if wait != float("inf") else MAX_RETRY_AFTER
