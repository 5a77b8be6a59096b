"""The digest worker: claim a batch from the queue, digest it in one transaction, then acknowledge it.

Failure policy:
* the database is unavailable or locked (OperationalError) → give the whole batch back and back off; nothing is
  lost and nothing is dropped while the database is down;
* a constraint violation (IntegrityError) or a fingerprint map that would not hold still → most likely something
  changed under the batch (an issue merged or deleted between reading and writing): the batch is retried once at
  once, which reads everything again, before it is treated like any other failure;
* anything else → the batch is split in halves until the failing event is alone; that event is retried a few
  times (with a growing delay) and then dropped, counted as `failed` and reported in the ingestion errors, so one
  poison event can never block the queue.
Acknowledging happens only after the digest transaction committed: a crash in between means redelivery, which the
pipeline's uuid idempotency turns into `duplicate`s, never double counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa

from faultline.config import Settings
from faultline.db import Database, utcnow
from faultline.ingest import diagnostics as diag
from faultline.ingest.queue import Message, Queue, open_queue
from faultline.pipeline import linking, providers
from faultline.pipeline.digest import Incoming, Pipeline

log = logging.getLogger(__name__)

TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
CONCURRENT_CHANGE = (sa.exc.IntegrityError, linking.UnstableIssueMap)


class Worker:
    def __init__(
        self,
        db: Database,
        queue: Queue,
        pipeline: Pipeline,
        *,
        batch_size: int = 500,
        wait_seconds: float = 0.5,
        max_attempts: int = 5,
    ) -> None:
        self.db = db
        self.queue = queue
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.max_attempts = max_attempts
        self.processed = 0
        self.batches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, *, queue: Queue | None = None) -> Worker:
        pipeline = Pipeline(
            db,
            rules=providers.rules_provider(settings, db),
            symbols=providers.symbol_resolver(settings, db),
        )
        return cls(db, queue or open_queue(settings.queue_url), pipeline, batch_size=settings.worker_batch_size)

    # -- one batch -------------------------------------------------------------------------------------------------

    def run_once(self, wait_seconds: float | None = None) -> int:
        """Claim and digest one batch; the number of messages handled (0 when the queue was empty)."""
        messages = self.queue.claim(self.batch_size, self.wait_seconds if wait_seconds is None else wait_seconds)
        if not messages:
            return 0
        self._digest(messages)
        self.batches += 1
        return len(messages)

    def _digest(self, messages: Sequence[Message], *, retry_once: bool = True) -> None:
        items = [Incoming(m.project_id, m.payload, m) for m in messages]
        try:
            self.pipeline.process(items)
        except TRANSIENT as exc:
            log.warning("database unavailable while digesting %d events (%s); will retry", len(messages), exc)
            self.queue.release(messages, delay_seconds=1.0)
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
            self.queue.release([message], delay_seconds=min(60.0, 2.0**message.attempts))
            return
        log.exception("digest failed for message %s %d times; dropping it", message.id, message.attempts)
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
                            f"Event could not be processed after {message.attempts} attempts and was dropped.",
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

    def run_forever(self) -> None:
        recovered = self.queue.recover()
        if recovered:
            log.info("released %d queue leases left by a previous worker", recovered)
        while not self._stop.is_set():
            try:
                self.run_once()
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
