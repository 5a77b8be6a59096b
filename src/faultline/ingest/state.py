"""Everything ingestion keeps for the life of the app: settings, token cache, queue, diagnostics, worker.

The queue is opened lazily, on the first capture request or worker start, so apps that never ingest (most unit
tests, `faultline migrate`) never create a queue file; `start()`/`stop()` run from the app's lifespan.
"""

from __future__ import annotations

import logging
import threading

from faultline.config import Settings
from faultline.db import Database
from faultline.ingest.diagnostics import Diagnostics, DiagnosticsFlusher
from faultline.ingest.queue import Queue, open_queue
from faultline.ingest.tokens import TokenCache

log = logging.getLogger(__name__)


class IngestState:
    def __init__(self, settings: Settings, db: Database, *, embedded_worker: bool = False) -> None:
        self.settings = settings
        self.db = db
        self.embedded_worker = embedded_worker
        self.tokens = TokenCache(db)
        self.diagnostics = Diagnostics()
        self._queue: Queue | None = None
        self._lock = threading.Lock()
        self._flusher: DiagnosticsFlusher | None = None
        self.worker = None

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    self._queue = open_queue(self.settings.queue_url)
        return self._queue

    def queue_ping(self) -> bool:
        return self.queue.ping()

    def start(self) -> None:
        self._flusher = DiagnosticsFlusher(self.diagnostics, self.db)
        self._flusher.start()
        if self.embedded_worker:
            from faultline.pipeline.worker import Worker

            self.worker = Worker.from_settings(self.settings, self.db, queue=self.queue)
            self.worker.start_thread()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None
