"""The embedded queue: one SQLite file of its own (WAL, synchronous=FULL) with group commit.

Why its own file: SQLite has one writer per database, and the digest worker holds the main database's write lock
for a whole batch; capture appends must never wait behind that.

Why group commit: an fsync costs milliseconds, so one transaction per request would cap capture at a few hundred
requests per second. A single writer thread takes *every* request waiting when it becomes free, writes them in one
transaction, fsyncs once and then answers each of them. The window is simply "while the previous commit was
running": no timer, no added latency when idle, and bigger groups exactly when load is higher.

Why a usage row: the queue is bounded (`QueueLimits`), and counting a million rows per request is not an option.
`queue_usage` holds the number and payload bytes of the queued rows, changed in the same transactions that add and
delete them (so it is exact across processes: `serve --no-worker` appending, `faultline worker` deleting) and
recounted once whenever a process opens the file. The writer checks each request of a group against it inside the
group's transaction and refuses (`QueueFull`) only the requests that would not fit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from faultline.ingest.queue.base import Message, QueueFull, QueueLimits

log = logging.getLogger(__name__)

Callback = Callable[[BaseException | None], None]

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS queue_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
)
""",
    """
CREATE TABLE IF NOT EXISTS queue_usage (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL
)
""",
)
# length(payload) reads a blob's size from its record header, not its (overflow) pages: cheap even on a full queue.
_RECOUNT = (
    "INSERT OR REPLACE INTO queue_usage (id, events, bytes) "
    "SELECT 1, count(*), coalesce(sum(length(payload)), 0) FROM queue_items"
)
# Upper bound of rows per group transaction, so one huge burst cannot hold the file lock for seconds.
_MAX_GROUP_ROWS = 20_000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back after an error without hiding it. SQLite has already rolled back by itself after some errors
    (SQLITE_FULL among them), and a second ROLLBACK raises "cannot rollback - no transaction is active", which
    replaced "database or disk is full" in the logs and in what capture could tell its clients."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:  # the error being handled is the one worth reporting
        log.warning("queue rollback failed after an error: %s", exc)


class SQLiteQueue:
    backend = "sqlite"

    def __init__(
        self, path: str | os.PathLike[str], *, lease_seconds: float = 60.0, limits: QueueLimits | None = None
    ) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        self.limits = limits or QueueLimits()
        setup = _connect(self.path)
        for statement in _SCHEMA:
            setup.execute(statement)
        setup.execute("BEGIN IMMEDIATE")
        setup.execute(_RECOUNT)
        setup.execute("COMMIT")
        setup.close()
        self._write_conn = _connect(self.path)
        self._read_conn = _connect(self.path)
        self._read_lock = threading.Lock()
        # Health and diagnostics read through a connection of their own. The consumer's connection is held
        # across claim/ack transactions, which wait for the writer's group commit and their own fsync: on a busy
        # disk that is seconds, and `/_health` (queue ping, backlog) waited with them (6.7 s measured by
        # bench/hostile.py). A WAL reader never waits for a writer, so these answer at once.
        self._probe_conn = _connect(self.path)
        self._probe_lock = threading.Lock()
        self._pending: list[tuple[Sequence[tuple[int, bytes]], Callback]] = []
        self._cond = threading.Condition()
        self._data = threading.Condition()
        self._closed = False
        self.groups_committed = 0
        self._writer = threading.Thread(target=self._write_loop, name="faultline-queue-writer", daemon=True)
        self._writer.start()

    @classmethod
    def from_url(cls, url: str, *, limits: QueueLimits | None = None) -> SQLiteQueue:
        """SQLAlchemy's convention: `sqlite:///relative.db`, `sqlite:////absolute.db`."""
        database = make_url(url).database
        if not database or database == ":memory:":
            raise ValueError(f"queue URL {url!r} must name a file")
        return cls(database, limits=limits)

    # -- producer side -----------------------------------------------------------------------------------------

    def submit(self, items: Sequence[tuple[int, bytes]], callback: Callback) -> None:
        with self._cond:
            if self._closed:
                callback(RuntimeError("queue is closed"))
                return
            self._pending.append((items, callback))
            self._cond.notify()

    def put(self, items: Sequence[tuple[int, bytes]]) -> None:
        if not items:
            return
        done = threading.Event()
        failure: list[BaseException] = []

        def callback(error: BaseException | None) -> None:
            if error is not None:
                failure.append(error)
            done.set()

        self.submit(items, callback)
        done.wait()
        if failure:
            raise failure[0]

    async def put_async(self, items: Sequence[tuple[int, bytes]]) -> None:
        if not items:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        self.submit(items, lambda error: loop.call_soon_threadsafe(settle, error))
        await future

    def _take_group(self) -> list[tuple[Sequence[tuple[int, bytes]], Callback]] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            group: list[tuple[Sequence[tuple[int, bytes]], Callback]] = []
            rows = 0
            while self._pending and (not group or rows + len(self._pending[0][0]) <= _MAX_GROUP_ROWS):
                entry = self._pending.pop(0)
                group.append(entry)
                rows += len(entry[0])
            return group

    def _write_loop(self) -> None:
        while True:
            group = self._take_group()
            if group is None:
                return
            self._write_group(group)
            # Drop the payloads now: otherwise the last group (megabytes after a large request) stays referenced
            # while the writer sleeps in `_take_group` until the next request, and so do the pages of every heap
            # they sit in (malloc_trim cannot return them: a burst of large batches settled 70 MiB higher).
            del group

    def _write_group(self, group: list[tuple[Sequence[tuple[int, bytes]], Callback]]) -> None:
        """One transaction for the whole group, then every request's answer. Its own frame, so that nothing of the
        group outlives it in a local (a loop variable held the last request's payloads until the next group)."""
        now = time.time()
        error: BaseException | None = None
        refused: dict[int, QueueFull] = {}
        try:
            self._write_conn.execute("BEGIN IMMEDIATE")
            try:
                refused = self._admit(group)
                rows = [
                    (pid, payload, now)
                    for index, (items, _) in enumerate(group)
                    if index not in refused
                    for pid, payload in items
                ]
                if rows:
                    self._write_conn.executemany(
                        "INSERT INTO queue_items (project_id, payload, enqueued_at) VALUES (?, ?, ?)", rows
                    )
                    self._write_conn.execute(
                        "UPDATE queue_usage SET events = events + ?, bytes = bytes + ? WHERE id = 1",
                        (len(rows), sum(len(row[1]) for row in rows)),
                    )
                self._write_conn.execute("COMMIT")
            except BaseException:
                _rollback(self._write_conn)
                raise
            self.groups_committed += 1
        except BaseException as exc:  # every waiting request must be answered, success or not
            error = exc
        for index, (_, callback) in enumerate(group):
            try:
                callback(error if error is not None else refused.get(index))
            except Exception:  # a vanished request must not stop the writer
                pass
        if error is None and len(refused) < len(group):
            with self._data:
                self._data.notify_all()

    def _admit(self, group: Sequence[tuple[Sequence[tuple[int, bytes]], Callback]]) -> dict[int, QueueFull]:
        """Which requests of the group would take the queue past its limits (checked in order, inside the group's
        transaction, so concurrent processes cannot both take the last slot)."""
        events, size = self._write_conn.execute("SELECT events, bytes FROM queue_usage WHERE id = 1").fetchone()
        refused: dict[int, QueueFull] = {}
        for index, (items, _) in enumerate(group):
            more = sum(len(payload) for _, payload in items)
            if self.limits.admits(events, size, len(items), more):
                events, size = events + len(items), size + more
            else:
                refused[index] = QueueFull(events, size, self.limits)
        return refused

    # -- consumer side -----------------------------------------------------------------------------------------

    def _claim_once(self, max_items: int, max_bytes: int | None) -> list[Message]:
        now = time.time()
        with self._read_lock:
            conn = self._read_conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                # The running total of payload bytes over the first `max_items` visible rows (length() of a blob
                # reads its size, not its bytes); the first row is taken whatever its size.
                rows = conn.execute(
                    "UPDATE queue_items SET visible_at = ?, attempts = attempts + 1 WHERE id IN "
                    "(SELECT id FROM (SELECT id, sum(size) OVER (ORDER BY id) AS upto, "
                    "row_number() OVER (ORDER BY id) AS n FROM "
                    "(SELECT id, length(payload) AS size FROM queue_items WHERE visible_at <= ? ORDER BY id LIMIT ?)) "
                    "WHERE n = 1 OR upto <= ?) "
                    "RETURNING id, project_id, payload, attempts",
                    (now + self.lease_seconds, now, max_items, max_bytes if max_bytes is not None else 1 << 62),
                ).fetchall()
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        rows.sort(key=lambda row: row[0])
        return [Message(id=str(r[0]), project_id=r[1], payload=bytes(r[2]), attempts=r[3]) for r in rows]

    def claim(self, max_items: int, wait_seconds: float, max_bytes: int | None = None) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        while True:
            messages = self._claim_once(max_items, max_bytes)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0 or self._closed:
                return messages
            # Woken at once by an in-process put; other processes' puts are seen on the next poll.
            with self._data:
                self._data.wait(min(remaining, 0.25))

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        ids = json.dumps([int(m.id) for m in messages])
        with self._read_lock:
            self._read_conn.execute("BEGIN IMMEDIATE")
            try:
                # RETURNING: only rows really deleted leave the usage row (two workers may ack one message).
                sizes = self._read_conn.execute(
                    "DELETE FROM queue_items WHERE id IN (SELECT value FROM json_each(?)) RETURNING length(payload)",
                    (ids,),
                ).fetchall()
                if sizes:
                    self._read_conn.execute(
                        "UPDATE queue_usage SET events = events - ?, bytes = bytes - ? WHERE id = 1",
                        (len(sizes), sum(size for (size,) in sizes)),
                    )
                self._read_conn.execute("COMMIT")
            except BaseException:
                _rollback(self._read_conn)
                raise

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0, *, count_attempt: bool = True) -> None:
        if not messages:
            return
        visible = time.time() + delay_seconds
        uncount = 0 if count_attempt else 1
        with self._read_lock:
            self._read_conn.execute("BEGIN IMMEDIATE")
            try:
                self._read_conn.executemany(
                    "UPDATE queue_items SET visible_at = ?, attempts = max(attempts - ?, 0) WHERE id = ?",
                    [(visible, uncount, int(m.id)) for m in messages],
                )
                self._read_conn.execute("COMMIT")
            except BaseException:
                _rollback(self._read_conn)
                raise

    def recover(self) -> int:
        """Release every lease. Called when a worker starts: in the embedded topology the previous holder of any
        lease is a process that no longer exists. Should another live worker share the file, the worst case is a
        message digested twice, which the digest's uuid idempotency absorbs."""
        with self._read_lock:
            cursor = self._read_conn.execute("UPDATE queue_items SET visible_at = 0 WHERE visible_at > 0")
            return cursor.rowcount

    def pending(self) -> int:
        with self._probe_lock:
            return int(self._probe_conn.execute("SELECT events FROM queue_usage WHERE id = 1").fetchone()[0])

    def usage(self) -> tuple[int, int]:
        """(events, payload bytes) queued, as the limits see them."""
        with self._probe_lock:
            events, size = self._probe_conn.execute("SELECT events, bytes FROM queue_usage WHERE id = 1").fetchone()
        return int(events), int(size)

    def ping(self) -> bool:
        try:
            with self._probe_lock:
                self._probe_conn.execute("SELECT 1").fetchone()
            return self._writer.is_alive()
        except sqlite3.Error:
            return False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        with self._data:
            self._data.notify_all()
        self._writer.join(timeout=10)
        self._write_conn.close()
        with self._read_lock:
            self._read_conn.close()
        with self._probe_lock:
            self._probe_conn.close()
