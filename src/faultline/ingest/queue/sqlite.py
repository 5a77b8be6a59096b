"""The embedded queue: one SQLite file of its own (WAL, synchronous=FULL) with group commit.

Why its own file: SQLite has one writer per database, and the digest worker holds the main database's write lock
for a whole batch; capture appends must never wait behind that.

Why group commit: an fsync costs milliseconds, so one transaction per request would cap capture at a few hundred
requests per second. A single writer thread takes *every* request waiting when it becomes free, writes them in one
transaction, fsyncs once and then answers each of them. The window is simply "while the previous commit was
running": no timer, no added latency when idle, and bigger groups exactly when load is higher.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from faultline.ingest.queue.base import Message

Callback = Callable[[BaseException | None], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
)
"""
# Upper bound of rows per group transaction, so one huge burst cannot hold the file lock for seconds.
_MAX_GROUP_ROWS = 20_000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SQLiteQueue:
    backend = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, lease_seconds: float = 60.0) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        setup = _connect(self.path)
        setup.execute(_SCHEMA)
        setup.close()
        self._write_conn = _connect(self.path)
        self._read_conn = _connect(self.path)
        self._read_lock = threading.Lock()
        self._pending: list[tuple[Sequence[tuple[int, bytes]], Callback]] = []
        self._cond = threading.Condition()
        self._data = threading.Condition()
        self._closed = False
        self.groups_committed = 0
        self._writer = threading.Thread(target=self._write_loop, name="faultline-queue-writer", daemon=True)
        self._writer.start()

    @classmethod
    def from_url(cls, url: str) -> SQLiteQueue:
        """SQLAlchemy's convention: `sqlite:///relative.db`, `sqlite:////absolute.db`."""
        database = make_url(url).database
        if not database or database == ":memory:":
            raise ValueError(f"queue URL {url!r} must name a file")
        return cls(database)

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
            now = time.time()
            error: BaseException | None = None
            try:
                self._write_conn.execute("BEGIN IMMEDIATE")
                try:
                    self._write_conn.executemany(
                        "INSERT INTO queue_items (project_id, payload, enqueued_at) VALUES (?, ?, ?)",
                        [(pid, payload, now) for items, _ in group for pid, payload in items],
                    )
                    self._write_conn.execute("COMMIT")
                except BaseException:
                    self._write_conn.execute("ROLLBACK")
                    raise
                self.groups_committed += 1
            except BaseException as exc:  # every waiting request must be answered, success or not
                error = exc
            for _, callback in group:
                try:
                    callback(error)
                except Exception:  # a vanished request must not stop the writer
                    pass
            if error is None:
                with self._data:
                    self._data.notify_all()

    # -- consumer side -----------------------------------------------------------------------------------------

    def _claim_once(self, max_items: int) -> list[Message]:
        now = time.time()
        with self._read_lock:
            conn = self._read_conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(
                    "UPDATE queue_items SET visible_at = ?, attempts = attempts + 1 WHERE id IN "
                    "(SELECT id FROM queue_items WHERE visible_at <= ? ORDER BY id LIMIT ?) "
                    "RETURNING id, project_id, payload, attempts",
                    (now + self.lease_seconds, now, max_items),
                ).fetchall()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        rows.sort(key=lambda row: row[0])
        return [Message(id=str(r[0]), project_id=r[1], payload=bytes(r[2]), attempts=r[3]) for r in rows]

    def claim(self, max_items: int, wait_seconds: float) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        while True:
            messages = self._claim_once(max_items)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0 or self._closed:
                return messages
            # Woken at once by an in-process put; other processes' puts are seen on the next poll.
            with self._data:
                self._data.wait(min(remaining, 0.25))

    def _ids(self, messages: Sequence[Message]) -> list[tuple[int]]:
        return [(int(m.id),) for m in messages]

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._read_lock:
            self._read_conn.execute("BEGIN IMMEDIATE")
            try:
                self._read_conn.executemany("DELETE FROM queue_items WHERE id = ?", self._ids(messages))
                self._read_conn.execute("COMMIT")
            except BaseException:
                self._read_conn.execute("ROLLBACK")
                raise

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0) -> None:
        if not messages:
            return
        visible = time.time() + delay_seconds
        with self._read_lock:
            self._read_conn.execute("BEGIN IMMEDIATE")
            try:
                self._read_conn.executemany(
                    "UPDATE queue_items SET visible_at = ? WHERE id = ?",
                    [(visible, int(m.id)) for m in messages],
                )
                self._read_conn.execute("COMMIT")
            except BaseException:
                self._read_conn.execute("ROLLBACK")
                raise

    def recover(self) -> int:
        """Release every lease. Called when a worker starts: in the embedded topology the previous holder of any
        lease is a process that no longer exists. Should another live worker share the file, the worst case is a
        message digested twice, which the digest's uuid idempotency absorbs."""
        with self._read_lock:
            cursor = self._read_conn.execute("UPDATE queue_items SET visible_at = 0 WHERE visible_at > 0")
            return cursor.rowcount

    def pending(self) -> int:
        with self._read_lock:
            return int(self._read_conn.execute("SELECT count(*) FROM queue_items").fetchone()[0])

    def ping(self) -> bool:
        try:
            with self._read_lock:
                self._read_conn.execute("SELECT 1").fetchone()
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
