"""The `symbol_repair` jobs that symbol-set uploads queue in `background_jobs`: creating, listing, rendering.

Kept apart from the job that runs them (`faultline.pipeline.reprocess`) so the upload API only depends on this.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.config import Settings
from faultline.db import utcnow
from faultline.ids import parse_uuid
from faultline.jobs.models import BackgroundJob, JobStatus

KIND = "symbol_repair"


def enqueue(
    session: Session, settings: Settings, *, project_id: int, symbol_set_id: uuid.UUID, ref: str
) -> BackgroundJob | None:
    """Queue a repair for `ref` (one pending job per symbol set is enough: it has not started scanning yet)."""
    if settings.symbol_repair_days <= 0:
        return None
    now = utcnow()
    since = now - dt.timedelta(days=settings.symbol_repair_days)
    pending = session.scalars(
        sa.select(BackgroundJob).where(
            BackgroundJob.kind == KIND,
            BackgroundJob.project_id == project_id,
            BackgroundJob.status == JobStatus.PENDING,
        )
    ).all()
    for job in pending:
        if job.params.get("symbol_set_id") == str(symbol_set_id):
            job.params = {**job.params, "since": since.isoformat(), "ref": ref}
            return job
    job = BackgroundJob(
        kind=KIND,
        project_id=project_id,
        status=JobStatus.PENDING,
        params={"symbol_set_id": str(symbol_set_id), "ref": ref, "since": since.isoformat()},
        progress={"scanned": 0, "repaired": 0, "regrouped": 0, "percent": 0},
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


def serialize_job(job: BackgroundJob) -> dict[str, Any]:
    hidden = ("cursor", "start_id", "max_id")
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "symbol_set_id": job.params.get("symbol_set_id"),
        "ref": job.params.get("ref"),
        "since": job.params.get("since"),
        "progress": {k: v for k, v in (job.progress or {}).items() if k not in hidden},
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def jobs_query(project_id: int, symbol_set_id: str | None = None) -> sa.Select[Any]:
    stmt = sa.select(BackgroundJob).where(BackgroundJob.kind == KIND, BackgroundJob.project_id == project_id)
    if symbol_set_id:
        # Only a well-formed id can match (jobs store canonical UUID text); anything else — "\x00" included, which
        # PostgreSQL refuses in text — matches nothing instead of reaching the database.
        wanted = parse_uuid(symbol_set_id)
        stmt = stmt.where(BackgroundJob.params["symbol_set_id"].as_string() == str(wanted) if wanted else sa.false())
    return stmt.order_by(BackgroundJob.created_at.desc(), BackgroundJob.id.desc())
