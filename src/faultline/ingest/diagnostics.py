"""Ingestion diagnostics: per project, per UTC day counters and the last few errors.

Capture counts in memory and a background flusher writes the totals every couple of seconds (a crash loses at
most that much *diagnostic* data, never events); the digest worker writes its counters inside its own batch
transaction so "accepted" is exactly the number of stored events.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import Database, excluded_of, insert_for, utcnow
from faultline.ingest.models import IngestCounter, IngestError

log = logging.getLogger(__name__)

# Counter names (documented in the README's "Ingestion diagnostics" section).
RECEIVED = "received"  # $exception events queued by capture
NON_EXCEPTION = "non_exception"  # other events: acknowledged, counted, not stored
TOO_LARGE = "too_large"  # events (or whole requests) refused with 413
REJECTED_INVALID = "rejected_invalid"  # refused by capture's shape checks (400)
QUEUE_FULL = "queue_full"  # refused by capture with 503 because the queue was at its limit (the SDK retries)
ACCEPTED = "accepted"  # stored by the digest
DROPPED_INVALID = "dropped_invalid"  # queued, then found unusable by the digest
DROPPED_SUPPRESSED = "dropped_suppressed"  # issue suppressed or a suppression rule matched
DUPLICATE = "duplicate"  # same uuid already stored (SDK retry or queue redelivery)
RATE_LIMITED = "rate_limited"  # over a rate limit: counted on its issue (per-issue) or refused with 429 (project)
NEW_ISSUE_LIMITED = "new_issue_limited"  # would have opened an issue past FAULTLINE_NEW_ISSUES_PER_HOUR
FAILED = "failed"  # digest crashed on the event at every delivery (5); dead-lettered

# Counters of Sentry envelopes, one per item type and one per (reason, category) of client reports: named
# `sentry_item:<type>` and `client_report:<reason>:<category>` (only known names; others are counted as `other`).
SENTRY_ITEM_PREFIX = "sentry_item:"
CLIENT_REPORT_PREFIX = "client_report:"

KEEP_ERRORS = 100  # per project

# Display order of the counters (the REST report and the UI page).
COUNTERS = (
    RECEIVED,
    ACCEPTED,
    DUPLICATE,
    DROPPED_INVALID,
    DROPPED_SUPPRESSED,
    REJECTED_INVALID,
    TOO_LARGE,
    QUEUE_FULL,
    RATE_LIMITED,
    NEW_ISSUE_LIMITED,
    NON_EXCEPTION,
    FAILED,
)


def counter_rows(counts: Mapping[tuple[int, dt.date, str], int]) -> list[dict[str, Any]]:
    return [
        {"project_id": pid, "day": day, "name": name, "value": value}
        for (pid, day, name), value in counts.items()
        if value
    ]


@functools.cache
def _counters_upsert(dialect_name: str) -> Any:
    """Built once per dialect: every digest batch (and every diagnostics flush) runs it."""
    table = IngestCounter.__table__
    stmt = insert_for(dialect_name, table)
    return stmt.on_conflict_do_update(
        index_elements=["project_id", "day", "name"], set_={"value": table.c.value + excluded_of(table).value}
    )


def add_counters(session: Session, counts: Mapping[tuple[int, dt.date, str], int]) -> None:
    rows = counter_rows(counts)
    if not rows:
        return
    session.execute(_counters_upsert(session.get_bind().dialect.name), rows)


def add_errors(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = [dict(r) for r in rows]
    if not rows:
        return
    session.execute(sa.insert(IngestError.__table__), rows)
    for project_id in {r["project_id"] for r in rows}:
        _trim(session, project_id)


def _trim(session: Session, project_id: int | None) -> None:
    table = IngestError.__table__
    match = table.c.project_id.is_(None) if project_id is None else table.c.project_id == project_id
    cutoff = session.execute(
        sa.select(table.c.id).where(match).order_by(table.c.id.desc()).offset(KEEP_ERRORS).limit(1)
    ).scalar()
    if cutoff is not None:
        session.execute(sa.delete(table).where(match, table.c.id <= cutoff))


def error_row(
    project_id: int | None, stage: str, code: str, message: str, detail: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "created_at": utcnow(),
        "stage": stage,
        "code": code,
        "message": message[:2000],
        "detail": dict(detail or {}),
    }


class Diagnostics:
    """Thread-safe in-memory accumulator for capture; `flush` moves it to the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, dt.date, str], int] = defaultdict(int)
        self._errors: list[dict[str, Any]] = []

    def count(self, project_id: int, name: str, n: int = 1) -> None:
        if n <= 0:
            return
        day = utcnow().date()
        with self._lock:
            self._counts[(project_id, day, name)] += n

    def error(
        self,
        project_id: int | None,
        code: str,
        message: str,
        detail: Mapping[str, Any] | None = None,
        stage: str = "capture",
    ) -> None:
        with self._lock:
            if len(self._errors) < 1000:  # a flood of bad requests must not grow memory without bound
                self._errors.append(error_row(project_id, stage, code, message, detail))

    def flush(self, db: Database) -> None:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(int)
            errs, self._errors = self._errors, []
        if not counts and not errs:
            return
        try:
            with db.write() as session:
                add_counters(session, counts)
                add_errors(session, errs)
        except Exception:
            log.exception("could not write ingestion diagnostics; will retry")
            with self._lock:
                for key, value in counts.items():
                    self._counts[key] += value
                self._errors[:0] = errs[: max(0, 1000 - len(self._errors))]


class DiagnosticsFlusher:
    """Background thread flushing a Diagnostics every `interval` seconds (and once more on stop)."""

    def __init__(self, diagnostics: Diagnostics, db: Database, interval: float = 2.0) -> None:
        self.diagnostics = diagnostics
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultline-diagnostics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.diagnostics.flush(self.db)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.diagnostics.flush(self.db)


def report(
    session: Session,
    project_id: int,
    *,
    days: int,
    errors_limit: int,
    include_unscoped: bool,
    queue: Any,
    degradations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ingestion report of one project (REST endpoint and UI page): per-day counters newest first, totals,
    the newest errors, the queue backlog and whether ingestion is degraded and why (the reasons `/_health` gives:
    they concern the whole installation, and say nothing about other tenants).

    Unknown-token and oversized-body errors belong to no project and may carry another tenant's token, so they are
    included (last day only) only when `include_unscoped` — for instance administrators.
    """
    since = utcnow().date() - dt.timedelta(days=days - 1)
    counters = IngestCounter.__table__
    rows = session.execute(
        sa.select(counters.c.day, counters.c.name, counters.c.value)
        .where(counters.c.project_id == project_id, counters.c.day >= since)
        .order_by(counters.c.day.desc())
    ).all()
    per_day: dict[dt.date, dict[str, int]] = {}
    totals = dict.fromkeys(COUNTERS, 0)
    sentry_items: dict[str, int] = defaultdict(int)
    client_reports: dict[tuple[str, str], int] = defaultdict(int)
    for day, name, value in rows:
        if name.startswith(SENTRY_ITEM_PREFIX):
            sentry_items[name[len(SENTRY_ITEM_PREFIX) :]] += int(value)
            continue
        if name.startswith(CLIENT_REPORT_PREFIX):
            reason, _, category = name[len(CLIENT_REPORT_PREFIX) :].partition(":")
            client_reports[(reason, category)] += int(value)
            continue
        per_day.setdefault(day, dict.fromkeys(COUNTERS, 0))[name] = int(value)
        totals[name] = totals.get(name, 0) + int(value)

    table = IngestError.__table__
    scope = table.c.project_id == project_id
    if include_unscoped:
        recent_cutoff = utcnow() - dt.timedelta(days=1)
        scope = sa.or_(scope, sa.and_(table.c.project_id.is_(None), table.c.created_at >= recent_cutoff))
    error_rows = session.execute(sa.select(table).where(scope).order_by(table.c.id.desc()).limit(errors_limit)).all()
    try:
        pending: int | None = queue.pending()
    except Exception:  # the report must work while the queue is down: that is when it is needed most
        pending = None
    return {
        "days": [{"day": day, "counters": values} for day, values in sorted(per_day.items(), reverse=True)],
        "totals": totals,
        "recent_errors": [
            {
                "created_at": r.created_at,
                "stage": r.stage,
                "code": r.code,
                "message": r.message,
                "detail": r.detail or {},
                "project_scoped": r.project_id is not None,
            }
            for r in error_rows
        ],
        # Sentry envelopes: items received by type, and what the SDKs reported they dropped themselves.
        "sentry_items": dict(sorted(sentry_items.items())),
        "client_reports": [
            {"reason": reason, "category": category, "quantity": quantity}
            for (reason, category), quantity in sorted(client_reports.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "queue": {"backend": queue.backend if pending is not None else "unavailable", "pending": pending},
        "health": {"status": "degraded" if degradations else "ok", "reasons": list(degradations or [])},
    }
