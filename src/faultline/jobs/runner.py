"""The background job runner: claim a job of `background_jobs`, run it step by step, resume after a crash.

A job is claimed by moving it from `pending` to `running` in one conditional UPDATE, so two runners (threads or
processes) never both get it. Each step is the job's own transaction that saves its cursor and counters in
`progress` and bumps `updated_at` — the heartbeat: a `running` job whose heartbeat is older than `STALE_AFTER` is
taken over by the next runner that looks, and resumes from the saved cursor. A step that finds its data changed
underneath raises `StepChanged` and runs again, up to `STEP_RETRIES` times, then once more with `settle=True` (write
what still holds). An exception fails the job with its message.

What a step does is the job kind's business: a subclass implements `step` for its `kinds` (today
`faultline.pipeline.reprocess.RepairRunner`, kind `symbol_repair`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from faultline.db import Database, utcnow
from faultline.jobs.models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=2)
POLL_SECONDS = 2.0
STEP_RETRIES = 2


class StepChanged(Exception):
    """The step's data changed between reading and writing it: run the step again."""


class JobRunner:
    """Claims jobs of `kinds` and works through them; one thread per process is plenty. `start()`/`stop()` run
    it in the background; `run_pending()` runs what is claimable in the calling thread (CLI, tests)."""

    kinds: Sequence[str] = ()
    thread_name = "faultline-jobs"

    def __init__(self, db: Database, *, project_id: int | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        self.db = db
        self.project_id = project_id  # only this project's jobs (CLI option, tests)
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, job_id: uuid.UUID, *, settle: bool = False) -> bool:
        """One step of the job in its own transaction(s); True when the job is finished (or gone)."""
        raise NotImplementedError

    # Claiming ----------------------------------------------------------------------------------------------------

    def claim(self) -> uuid.UUID | None:
        jobs = BackgroundJob.__table__
        now = utcnow()
        claimable = sa.and_(
            jobs.c.kind.in_(list(self.kinds)),
            sa.or_(
                jobs.c.status == JobStatus.PENDING,
                sa.and_(jobs.c.status == JobStatus.RUNNING, jobs.c.updated_at < now - STALE_AFTER),
            ),
        )
        if self.project_id is not None:
            claimable = sa.and_(claimable, jobs.c.project_id == self.project_id)
        with self.db.write() as session:
            candidate = session.scalar(sa.select(jobs.c.id).where(claimable).order_by(jobs.c.created_at).limit(1))
            if candidate is None:
                return None
            claimed = session.execute(
                sa.update(jobs)
                .where(jobs.c.id == candidate, claimable)
                .values(
                    status=JobStatus.RUNNING,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                    updated_at=now,
                )
            ).rowcount
        return candidate if claimed == 1 else None

    # Working ------------------------------------------------------------------------------------------------------

    def run_pending(self, max_jobs: int = 100) -> int:
        """Run claimable jobs to completion in this thread; how many were finished."""
        done = 0
        while done < max_jobs and not self._stop.is_set():
            job_id = self.claim()
            if job_id is None:
                break
            self.run_job(job_id)
            done += 1
        return done

    def run_job(self, job_id: uuid.UUID) -> None:
        retries = 0
        try:
            while not self._stop.is_set():
                try:
                    if self.step(job_id, settle=retries >= STEP_RETRIES):
                        return
                    retries = 0
                except StepChanged:
                    retries += 1
        except Exception as exc:
            log.exception("background job %s failed", job_id)
            with self.db.write() as session:
                job = session.get(BackgroundJob, job_id)
                if job is not None:
                    job.status = JobStatus.FAILED
                    job.error = f"{type(exc).__name__}: {exc}"[:2000]
                    job.finished_at = utcnow()

    # Background thread ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:
                log.exception("background job loop error")
            self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    # The name the symbols setup and the CLI have used so far.
    start_thread = start

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
