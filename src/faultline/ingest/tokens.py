"""Project token → project id, cached in memory so capture touches the database only on a miss.

A short TTL bounds how long a deleted project keeps accepting events; unknown tokens are cached too (briefly), so a
misconfigured SDK hammering the server with a wrong token costs a dict lookup, not a query.
"""

from __future__ import annotations

import threading
import time

from faultline.accounts import service as accounts
from faultline.db import Database

MAX_TOKEN_LENGTH = 200


class TokenCache:
    def __init__(self, db: Database, *, ttl_seconds: float = 30.0, negative_ttl_seconds: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.negative_ttl = negative_ttl_seconds
        self._entries: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str) -> int | None:
        """The project id for `token`, or None when no project has it."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        now = time.monotonic()
        hit = self._entries.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.db.read() as session:
            project = accounts.get_project_by_token(session, token)
        project_id = project.id if project is not None else None
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token] = (project_id, now + (self.ttl if project_id is not None else self.negative_ttl))
        return project_id

    def cached(self, token: str) -> bool:
        hit = self._entries.get(token)
        return hit is not None and hit[1] > time.monotonic()
