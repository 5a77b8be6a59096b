"""The composition root: the one place that builds what a Faultline process runs on and starts its background work.

A process (`faultline serve`, `faultline worker`, a test's app) builds one `Runtime`: settings, the database, the
queue handle, the engines (the rules engine, the symbols runtime), ingestion's state, and the background services
its role needs. Everything that needs an engine gets it from here, so the API and the digest worker of one process
share one rules cache and one symbol cache (an upload drops exactly the cache entries the worker would keep using),
and no module keeps a process-wide singleton.

Background services are started in order and stopped in reverse. Each is a function that starts something and
returns how to stop it, so a thread that cannot be restarted is built afresh on every start (an app whose lifespan
runs twice). Later services (alert delivery) are one more `add_service` call in a role below; retention runs
wherever digests run.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from faultline.alerts.delivery import Deliverer
from faultline.config import Settings
from faultline.db import Database
from faultline.ingest.diagnostics import DiagnosticsFlusher
from faultline.ingest.queue import QueueHandle, open_queue_for
from faultline.ingest.state import IngestState
from faultline.pipeline.digest import Limits, Pipeline
from faultline.pipeline.reprocess import RepairRunner
from faultline.pipeline.worker import Worker
from faultline.retention.job import RetentionThread
from faultline.retention.service import Policy, Retention
from faultline.rules.engine import RulesEngine
from faultline.symbols import service as symbols_service
from faultline.symbols.runtime import SymbolsRuntime, build_runtime

log = logging.getLogger(__name__)

Stop = Callable[[], None]


@dataclass(frozen=True)
class Service:
    """A named piece of background work: `start()` starts it and returns the function that stops it."""

    name: str
    start: Callable[[], Stop]


class Runtime:
    """What one process runs on. Build it with a role (`for_server`, `for_worker`) or bare (no background work).

    `db`: an open database to use (the caller keeps it and disposes it); without one the runtime opens the configured
    database and disposes it in `close()`.
    """

    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self._owns_db = db is None
        self.db = db if db is not None else Database(settings.database_url)
        self.queue = QueueHandle(functools.partial(open_queue_for, settings))
        self.rules = RulesEngine()
        self.ingest = IngestState(settings, self.db, self.queue)
        self.services: list[Service] = []
        self.digests_in_process = False  # a digest worker runs in this process (its queue is part of its health)
        self.worker: Worker | None = None  # the embedded digest worker while it runs
        self._symbols: SymbolsRuntime | None = None
        self._symbols_lock = threading.Lock()
        self._stops: list[tuple[str, Stop]] = []

    # -- roles -------------------------------------------------------------------------------------------------------

    @classmethod
    def for_server(cls, settings: Settings, *, db: Database | None = None, embedded_worker: bool = False) -> Runtime:
        """The HTTP server: ingestion's flusher and memory returner; with `embedded_worker` (what `faultline serve`
        does unless --no-worker) also the digest worker and the symbol repair runner."""
        runtime = cls(settings, db=db)
        runtime.add_service("diagnostics-flusher", runtime._diagnostics_flusher)
        runtime.add_service("memory-returner", runtime._memory_returner)
        if embedded_worker:
            runtime.digests_in_process = True
            runtime.add_service("digest-worker", runtime._digest_thread)
            runtime.add_service("symbol-repairs", runtime._symbol_repairs)
            runtime.add_service("retention", runtime._retention)
            runtime.add_service("alert-delivery", runtime._alert_delivery)
        return runtime

    @classmethod
    def for_worker(cls, settings: Settings, *, db: Database | None = None) -> Runtime:
        """`faultline worker`: the symbol repair runner in the background; the digest loop itself runs in the
        foreground (`new_worker().run_forever()`), so SIGTERM stops it after the batch in progress."""
        runtime = cls(settings, db=db)
        runtime.digests_in_process = True
        runtime.add_service("symbol-repairs", runtime._symbol_repairs)
        runtime.add_service("retention", runtime._retention)
        runtime.add_service("alert-delivery", runtime._alert_delivery)
        return runtime

    def add_service(self, name: str, start: Callable[[], Stop]) -> None:
        self.services.append(Service(name, start))

    # -- engines -----------------------------------------------------------------------------------------------------

    @property
    def symbols(self) -> SymbolsRuntime:
        """Built on first use: opening S3 storage costs a client, and most processes of the test suite never
        resolve a frame."""
        if self._symbols is None:
            with self._symbols_lock:
                if self._symbols is None:
                    self._symbols = build_runtime(self.settings)
        return self._symbols

    def pipeline(self) -> Pipeline:
        """The digest pipeline on this process's engines."""
        limits = Limits(new_issues_per_hour=self.settings.new_issues_per_hour)
        return Pipeline(self.db, rules=self.rules, symbols=self.symbols.resolver, limits=limits)

    def new_worker(self) -> Worker:
        """A digest worker on this process's queue and engines (the only place a worker is wired)."""
        settings = self.settings
        return Worker(
            self.db,
            self.queue.get(),
            self.pipeline(),
            batch_size=settings.worker_batch_size,
            batch_bytes=settings.worker_batch_bytes,
        )

    def repair_runner(self, *, project_id: int | None = None) -> RepairRunner:
        """Re-symbolication after late uploads, on this process's symbols runtime."""
        return RepairRunner(self.db, self.symbols, project_id=project_id)

    def retention(self) -> Retention:
        """Age, byte-budget and symbol-set retention on this process's database and symbols runtime."""
        settings = self.settings
        policy = Policy(
            retention_days=settings.retention_days,
            storage_budget=settings.storage_budget,
            batch=settings.retention_batch,
            symbol_set_max_age_days=settings.symbol_set_max_age_days,
        )
        return Retention(
            self.db,
            policy,
            delete_symbol_sets=lambda session, project_id, sets: symbols_service.delete_sets(
                session, self.symbols, project_id, sets
            ),
        )

    # -- services ----------------------------------------------------------------------------------------------------

    def _diagnostics_flusher(self) -> Stop:
        flusher = DiagnosticsFlusher(self.ingest.diagnostics, self.db)
        flusher.start()
        return flusher.stop

    def _memory_returner(self) -> Stop:
        self.ingest.memory.start()
        return self.ingest.memory.stop

    def _digest_thread(self) -> Stop:
        worker = self.new_worker()
        worker.start_thread()
        self.worker = worker

        def stop() -> None:
            worker.stop()
            self.worker = None

        return stop

    def _symbol_repairs(self) -> Stop:
        runner = self.repair_runner()
        runner.start_thread()
        return runner.stop

    def _retention(self) -> Stop:
        thread = RetentionThread(self.retention(), interval=self.settings.retention_interval)
        thread.start()
        return thread.stop

    def _alert_delivery(self) -> Stop:
        """Alert delivery beside the digest (never inside it): one deliverer at a time across processes by lease."""
        deliverer = Deliverer(self.db, self.settings)
        deliverer.start_thread()
        return deliverer.stop

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every service in order; if one fails, the ones already started are stopped again."""
        try:
            for service in self.services:
                self._stops.append((service.name, service.start()))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the services in reverse order, then close the queue; safe to call twice."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)
        self.queue.close()

    def close(self) -> None:
        """`stop()`, and dispose the database if this runtime opened it."""
        self.stop()
        if self._owns_db:
            self.db.dispose()
