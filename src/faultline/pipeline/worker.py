"""The digest worker: claim a batch from the queue, digest it in one transaction, then acknowledge it.

Failure policy:
* the database is unavailable or locked (OperationalError) → give the whole batch back and back off; nothing is
  lost and nothing is dropped while the database is down;
* a constraint violation (IntegrityError) or a fingerprint map that would not hold still → most likely something
  changed under the batch (an issue merged or deleted between reading and writing): the batch is retried once at
  once, which reads everything again, before it is treated like any other failure;
* anything else → the batch is split in halves until the failing event is alone; that event is retried (after
  2, 4, 8, 16 s) until it has been delivered `max_attempts` (5) times, then dead-lettered: removed from the queue,
  counted as `failed` and reported with its payload's start in the ingestion errors, so one poison event can never
  block the queue nor be retried forever. Deliveries are counted by the queue itself (a column in SQLite, the
  stream's delivery counter in Redis), so a worker crash mid-event counts too; a delivery given back because the
  database was down does not.
Acknowledging happens only after the digest transaction committed: a crash in between means redelivery, which the
pipeline's uuid idempotency turns into `duplicate`s, never double counts.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from faultline.db import Database, utcnow
from faultline.ingest import diagnostics as diag
from faultline.ingest.queue import Message, Queue
from faultline.pipeline import linking
from faultline.pipeline.digest import Incoming, Pipeline

log = logging.getLogger(__name__)

TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
CONCURRENT_CHANGE = (sa.exc.IntegrityError, linking.UnstableIssueMap)
# After a batch that emptied the queue, the digest thread waits this long before claiming again. A batch has a fixed
# cost (claim, transaction, counters, spike and tag upserts, commit, ack: ~6 ms of CPU on the 2-core box) beside
# ~0.35 ms per 5 KB event; with one event per request (Sentry SDKs) and no pause, the digest claimed whatever the
# last few milliseconds brought (batches of ~8 at 900 events/s) and spent most of its CPU on batch overhead, CPU
# the HTTP loop then lacked in the same process (bench/routing.py: 1.96 ms per event in batches of 4, 0.46 ms in
# batches of 64). 50 ms is invisible next to the digest lag a user can notice, and changes nothing when the queue
# holds a full batch (no pause then).
LINGER_SECONDS = 0.05


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one batch, then collect its youngest generation once.

    A batch of 500 events allocates hundreds of thousands of container objects (parsed JSON, typed frames, ORM
    rows) that almost all die by reference counting, yet every 700 net allocations trigger a generation-0 pass over
    the survivors, and each tenth of those a generation-1 pass: ~8 % of the digest's CPU time (bench/ingest.py,
    alternating runs). What a batch leaves in cycles is bounded by the batch size, and is collected right after.
    Only pauses what was running (a caller that disabled the collector keeps it disabled)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect(0)


class Worker:
    def __init__(
        self,
        db: Database,
        queue: Queue,
        pipeline: Pipeline,
        *,
        batch_size: int = 500,
        batch_bytes: int | None = None,
        wait_seconds: float = 0.5,
        max_attempts: int = 5,
        retry_base_seconds: float = 2.0,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self.db = db
        self.queue = queue
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.last_batch_bytes = 0
        self.wait_seconds = wait_seconds
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.linger_seconds = linger_seconds
        self.processed = 0
        self.batches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one batch -------------------------------------------------------------------------------------------------

    def run_once(self, wait_seconds: float | None = None) -> int:
        """Claim and digest one batch; the number of messages handled (0 when the queue was empty)."""
        messages = self.queue.claim(
            self.batch_size, self.wait_seconds if wait_seconds is None else wait_seconds, self.batch_bytes
        )
        if not messages:
            self.last_batch_bytes = 0
            return 0
        self.last_batch_bytes = sum(len(m.payload) for m in messages)
        self._digest(messages)
        self.batches += 1
        return len(messages)

    def _digest(self, messages: Sequence[Message], *, retry_once: bool = True) -> None:
        items = [Incoming(m.project_id, m.payload, m) for m in messages]
        try:
            with no_cyclic_gc():
                self.pipeline.process(items)
        except TRANSIENT as exc:
            log.warning("database unavailable while digesting %d events (%s); will retry", len(messages), exc)
            self.queue.release(messages, delay_seconds=1.0, count_attempt=False)
            self._stop.wait(1.0)
            return
        except CONCURRENT_CHANGE as exc:
            if retry_once:
                log.warning("digest of %d events hit a concurrent change (%s); retrying", len(messages), exc)
                self._digest(messages, retry_once=False)
            else:
                self._isolate(messages)
            return
        except Exception:
            self._isolate(messages)
            return
        self.queue.ack(messages)
        self.processed += len(messages)

    def _isolate(self, messages: Sequence[Message]) -> None:
        """Split a failing batch in halves until the failing event is alone, then retry it later or drop it."""
        if len(messages) > 1:
            middle = len(messages) // 2
            self._digest(messages[:middle], retry_once=False)
            self._digest(messages[middle:], retry_once=False)
            return
        self._poison(messages[0])

    def _poison(self, message: Message) -> None:
        if message.attempts < self.max_attempts:
            log.exception("digest failed for message %s (attempt %d); will retry", message.id, message.attempts)
            delay = min(60.0, self.retry_base_seconds * 2 ** (message.attempts - 1))
            self.queue.release([message], delay_seconds=delay)
            return
        log.exception("digest failed for message %s %d times; dead-lettering it", message.id, message.attempts)
        try:
            with self.db.write() as session:
                diag.add_counters(session, {(message.project_id, utcnow().date(), diag.FAILED): 1})
                diag.add_errors(
                    session,
                    [
                        diag.error_row(
                            message.project_id,
                            "digest",
                            "processing_failed",
                            f"Event could not be processed after {message.attempts} attempts and was dead-lettered "
                            "(dropped from the queue).",
                            {"payload_prefix": message.payload[:500].decode("utf-8", "replace")},
                        )
                    ],
                )
        except Exception:
            log.exception("could not record the dropped message")
        self.queue.ack([message])

    # -- loops -------------------------------------------------------------------------------------------------------

    def run_until_empty(self, timeout: float = 60.0) -> int:
        """Digest until the queue has nothing claimable (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            handled = self.run_once(wait_seconds=0)
            if not handled:
                break
            total += handled
        return total

    def _large_batch(self) -> bool:
        """Whether the last batch carried at least half the byte budget: then it was cut by bytes (the queue may
        hold more), and it is already large enough that waiting for company would buy nothing."""
        return self.batch_bytes is not None and self.last_batch_bytes * 2 >= self.batch_bytes

    def run_forever(self) -> None:
        recovered = self.queue.recover()
        if recovered:
            log.info("released %d queue leases left by a previous worker", recovered)
        while not self._stop.is_set():
            try:
                handled = self.run_once()
                if 0 < handled < self.batch_size and self.linger_seconds > 0 and not self._large_batch():
                    self._stop.wait(self.linger_seconds)  # let the next batch gather (LINGER_SECONDS)
            except Exception:
                log.exception("digest worker loop error; retrying in 1s")
                self._stop.wait(1.0)

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="faultline-digest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
