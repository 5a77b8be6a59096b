"""Why queue writes fail, and since when: capture's 503 code, the log line and `/_health` all read it from here.

A full disk must be called a full disk. SQLite reports it as SQLITE_FULL ("database or disk is full"), the OS as
ENOSPC/EDQUOT, Redis as an OOM refusal once `maxmemory` is reached; everything else is "queue unavailable".
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

DISK_FULL = "disk_full"
QUEUE_FULL = "queue_full"
QUEUE_UNAVAILABLE = "queue_unavailable"

_SQLITE_FULL = 13
_REPEAT_LOG_SECONDS = 60.0


@dataclass(frozen=True)
class QueueFailure:
    code: str  # DISK_FULL, QUEUE_FULL or QUEUE_UNAVAILABLE
    reason: str  # for people: what went wrong and what it means
    error: str  # the underlying exception, one line

    @property
    def client_detail(self) -> str:
        if self.code == DISK_FULL:
            return "The server's disk is full: events cannot be queued. Retry later."
        if self.code == QUEUE_FULL:
            return "The ingestion queue is full: events cannot be queued. Retry later."
        return "Ingestion queue unavailable; retry later."


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> QueueFailure:
    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    for item in _chain(exc):
        if isinstance(item, sqlite3.Error) and (
            getattr(item, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(item)
        ):
            return QueueFailure(DISK_FULL, "disk full: the queue's SQLite file cannot grow", error)
        if isinstance(item, OSError) and item.errno in (errno.ENOSPC, errno.EDQUOT):
            return QueueFailure(DISK_FULL, "disk full: no space left for the queue", error)
        if type(item).__module__.startswith("redis") and str(item).startswith("OOM"):
            return QueueFailure(QUEUE_FULL, "queue full: Redis refuses writes at its maxmemory limit", error)
    return QueueFailure(QUEUE_UNAVAILABLE, "queue writes fail", error)


@dataclass(frozen=True)
class WriteTrouble:
    failure: QueueFailure
    since: dt.datetime
    failures: int


class WriteHealth:
    """Whether the latest queue write failed, from when, how many times. Logs the change of state (ERROR when
    writes start failing, again at most once a minute while they keep failing, WARNING when they work again),
    not every failed request: a flood of retries must not flood the log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trouble: WriteTrouble | None = None
        self._logged_at = 0.0

    def succeeded(self) -> None:
        if self._trouble is None:  # the hot path: one attribute read
            return
        with self._lock:
            trouble, self._trouble = self._trouble, None
        if trouble is not None:
            log.warning(
                "ingestion queue writes work again after %d failed (%s since %s)",
                trouble.failures,
                trouble.failure.code,
                trouble.since.isoformat(timespec="seconds"),
            )

    def failed(self, exc: BaseException) -> QueueFailure:
        failure = classify(exc)
        now = time.monotonic()
        with self._lock:
            previous = self._trouble
            if previous is None or previous.failure.code != failure.code:
                self._trouble = WriteTrouble(failure, dt.datetime.now(dt.UTC), 1)
                should_log = True
            else:
                self._trouble = WriteTrouble(failure, previous.since, previous.failures + 1)
                should_log = now - self._logged_at >= _REPEAT_LOG_SECONDS
            if should_log:
                self._logged_at = now
            failures = self._trouble.failures
        if should_log:
            log.error(
                "ingestion queue write failed: %s (%s); capture answers 503 %s until it works again "
                "(%d failed so far); events already queued are kept",
                failure.reason,
                failure.error,
                failure.code,
                failures,
            )
        return failure

    def current(self) -> WriteTrouble | None:
        return self._trouble
