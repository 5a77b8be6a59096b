"""The digest pipeline: stages of spec §5.1 in order, over a whole batch.

    parse → resolve frames + metadata → fingerprint (manual > grouping rule > V1) → suppression rules
          → link issues (create / reopen / assign) → drop events of suppressed issues → store + aggregates

Frame resolution may be slow (a script and source map fetched from the web, a SourceMapCache built), so it runs
first, on a read session, outside any write transaction: on SQLite the single write lock is then held only for the
short second half, which runs in one transaction and is all-or-nothing for the database. What the symbol resolver
wants written (negative symbol-set rows, `last_used`) is applied at the start of that transaction; if an upload
changed the symbols in between, the batch is resolved again (see `faultline.pipeline.seams.SymbolBatch`).

Each event ends with an `Outcome`; per-event failures (invalid payloads, suppression) ride along as outcomes and
counters instead of failing the batch. Only infrastructure errors (the database) escape, and the worker then
retries or isolates the batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from faultline.db import Database, utcnow
from faultline.ingest import diagnostics as diag
from faultline.issues.aggregates import search_columns
from faultline.issues.models import IssueStatus
from faultline.pipeline import fingerprint as fp
from faultline.pipeline import linking, store
from faultline.pipeline.parse import InvalidEvent, ParsedEvent, parse_payload
from faultline.pipeline.resolution import FrameResolver, metadata, resolve_exceptions
from faultline.pipeline.seams import NoRules, NoSymbols, ProjectRules, RulesProvider, SymbolBatch, SymbolResolver

log = logging.getLogger(__name__)

STORED = "stored"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
INVALID = "invalid"

# How often a batch is resolved again because an upload changed its symbols between resolving and writing; after
# that the batch is stored as resolved (the upload's repair job fixes such events later anyway).
STALE_SYMBOL_RETRIES = 2


@dataclass
class Incoming:
    """One queued event as the worker hands it over: project and the capture document bytes."""

    project_id: int
    payload: bytes
    ref: Any = None  # the queue message, opaque to the pipeline


@dataclass
class Outcome:
    status: str
    uuid: uuid.UUID | None = None
    issue_id: uuid.UUID | None = None
    fingerprint: str | None = None
    reason: str | None = None
    properties: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class _Work:
    index: int
    event: ParsedEvent
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    fingerprint: fp.Fingerprint | None = None


@dataclass
class _Batch:
    """One attempt at a batch: parsed events by project, and what the attempt has decided so far."""

    outcomes: list[Outcome | None]
    by_project: dict[int, list[_Work]]
    counts: dict[tuple[int, dt.date, str], int] = field(default_factory=lambda: defaultdict(int))
    error_rows: list[dict[str, Any]] = field(default_factory=list)
    today: dt.date = field(default_factory=lambda: utcnow().date())


class _StaleSymbols(Exception):
    """Symbol sets changed between resolving the batch and writing it: resolve it again."""


class Pipeline:
    def __init__(
        self,
        db: Database,
        *,
        rules: RulesProvider | None = None,
        symbols: SymbolResolver | None = None,
        recent_frames: store.RecentFrames | None = None,
    ) -> None:
        self.db = db
        self.rules: RulesProvider = rules or NoRules()
        self.symbols: SymbolResolver = symbols or NoSymbols()
        self.recent_frames = recent_frames or store.RecentFrames()

    def process(self, items: Sequence[Incoming]) -> list[Outcome]:
        """Digest a batch: resolve its frames with no write lock held, then store it in one write transaction."""
        attempt = 0
        while True:
            try:
                return self._attempt(items, last=attempt >= STALE_SYMBOL_RETRIES)
            except _StaleSymbols:
                attempt += 1
                log.info("symbol sets changed while a batch of %d events was resolved; resolving again", len(items))

    def _attempt(self, items: Sequence[Incoming], *, last: bool) -> list[Outcome]:
        batch = self._parse(items)
        symbols: SymbolBatch | None = None
        committed = False
        written_frames: list[dict[str, Any]] = []
        try:
            with self.db.read() as read_session:
                symbols = self.symbols.batch(read_session)
                resolver = FrameResolver(symbols)
                self._resolve(batch, resolver)
            with self.db.write() as session:
                applied = symbols.apply(session)
                if applied.stale and not last:
                    raise _StaleSymbols()
                for project_id, works in batch.by_project.items():
                    self._project(session, project_id, works, batch)
                frame_rows = self.recent_frames.fresh(resolver.stack_frame_rows(applied.replaced_ids))
                store.upsert_frames(session, frame_rows)
                written_frames.extend(frame_rows)
                for message in dict.fromkeys(resolver.errors):
                    batch.error_rows.append(diag.error_row(None, "digest", "symbol_resolution", message))
                diag.add_counters(session, batch.counts)
                diag.add_errors(session, batch.error_rows)
            committed = True
        finally:
            if symbols is not None:
                symbols.finish(committed)
        self.recent_frames.remember(written_frames)
        return [o if o is not None else Outcome(INVALID, reason="not processed") for o in batch.outcomes]

    @staticmethod
    def _parse(items: Sequence[Incoming]) -> _Batch:
        batch = _Batch(outcomes=[None] * len(items), by_project=defaultdict(list))
        for index, item in enumerate(items):
            try:
                event = parse_payload(item.project_id, item.payload)
            except InvalidEvent as exc:
                batch.outcomes[index] = Outcome(INVALID, reason=exc.message)
                batch.counts[(item.project_id, batch.today, diag.DROPPED_INVALID)] += 1
                batch.error_rows.append(diag.error_row(item.project_id, "digest", exc.code, exc.message))
                continue
            batch.by_project[item.project_id].append(_Work(index, event))
        return batch

    @staticmethod
    def _resolve(batch: _Batch, resolver: FrameResolver) -> None:
        """Stage 1, before the write transaction. Duplicates are resolved too (they are only recognised inside the
        transaction): cheap, since resolutions are memoised per raw frame and symbol sets cached per process, and it
        keeps a batch without symbol frames from touching the database before it writes."""
        for project_id, works in batch.by_project.items():
            for work in works:
                work.exceptions = resolve_exceptions(resolver, project_id, work.event.exceptions)

    def _project(self, session: Session, project_id: int, works: list[_Work], batch: _Batch) -> None:
        outcomes, counts, today = batch.outcomes, batch.counts, batch.today
        # Duplicates: already stored (SDK retry, queue redelivery) or repeated within this batch. Checked before
        # linking so a replayed event can neither reopen an issue nor create one.
        stored_before = store.existing_uuids(session, project_id, [w.event.uuid for w in works])
        fresh: list[_Work] = []
        seen: set[uuid.UUID] = set()
        for work in works:
            if work.event.uuid in stored_before or work.event.uuid in seen:
                outcomes[work.index] = Outcome(DUPLICATE, uuid=work.event.uuid)
                counts[(project_id, today, diag.DUPLICATE)] += 1
            else:
                seen.add(work.event.uuid)
                fresh.append(work)
        if not fresh:
            return
        rules: ProjectRules = self.rules.for_project(session, project_id)

        # 1. metadata of the resolved frames, 2. grouping
        for work in fresh:
            event = work.event
            props = dict(event.properties)
            props["$exception_list"] = work.exceptions
            props.update(metadata(work.exceptions))
            if event.client_fingerprint is not None:
                work.fingerprint = fp.manual(event.client_fingerprint)
            else:
                props["$exception_fingerprint"] = None
                decision = rules.grouping(props)
                work.fingerprint = fp.custom(decision) if decision is not None else fp.v1(work.exceptions)
            props["$exception_fingerprint"] = work.fingerprint.value
            props["$exception_fingerprint_record"] = work.fingerprint.record
            if work.fingerprint.version:
                props["$exception_fingerprint_version"] = work.fingerprint.version
            props.pop("$exception_issue_id", None)
            work.properties = props

        # 3a. server-side suppression rules
        kept: list[_Work] = []
        for work in fresh:
            rule_id = rules.suppression(work.properties, work.event.uuid)
            if rule_id is not None:
                outcomes[work.index] = Outcome(
                    SUPPRESSED,
                    uuid=work.event.uuid,
                    fingerprint=work.fingerprint.value,
                    reason=f"Suppressed by rule: {rule_id}",
                )
                counts[(project_id, today, diag.DROPPED_SUPPRESSED)] += 1
            else:
                kept.append(work)
        if not kept:
            return

        # 3b. link issues
        first_by_fp: dict[str, _Work] = {}
        for work in kept:
            key = work.fingerprint.value
            if key not in first_by_fp or work.event.timestamp < first_by_fp[key].event.timestamp:
                first_by_fp[key] = work
        refs = linking.lookup_and_lock(session, project_id, list(first_by_fp))
        missing = []
        for key in first_by_fp:
            if key in refs:
                continue
            work = first_by_fp[key]
            name, description = linking.issue_texts(work.properties, work.exceptions)
            search = search_columns(work.properties.get("$exception_types"), work.properties.get("$exception_values"))
            missing.append(linking.NewIssue(key, name, description, work.event.timestamp, **search))
        refs.update(linking.create(session, project_id, missing))
        linking.reopen(session, [refs[k] for k in first_by_fp])
        for key, ref in refs.items():
            if not (ref.created or ref.reopened):
                continue
            work = first_by_fp[key]
            props = {**work.properties, "$exception_issue_id": str(ref.id)}
            issue_view = {"status": ref.status, "name": ref.name, "description": ref.description}
            grouping = work.fingerprint.grouping
            assignee = grouping.assignee if grouping is not None and grouping.assignee else None
            if assignee is None:
                assignee = rules.assignment(props, issue_view)
            current = linking.assign(session, ref.id, project_id, assignee)
            linking.announce(session, project_id, ref, key, work.event.timestamp, current, work.event.uuid)

        # 3c. drop events of suppressed issues; 5. store
        rows: list[store.EventRow] = []
        by_uuid: dict[uuid.UUID, _Work] = {}
        for work in kept:
            ref = refs[work.fingerprint.value]
            if ref.status == IssueStatus.SUPPRESSED:
                outcomes[work.index] = Outcome(
                    SUPPRESSED,
                    uuid=work.event.uuid,
                    issue_id=ref.id,
                    fingerprint=work.fingerprint.value,
                    reason=f"Suppressed issue: {ref.id}",
                )
                counts[(project_id, today, diag.DROPPED_SUPPRESSED)] += 1
                continue
            work.properties["$exception_issue_id"] = str(ref.id)
            event = work.event
            rows.append(
                store.EventRow(
                    uuid=event.uuid,
                    project_id=project_id,
                    issue_id=ref.id,
                    fingerprint=work.fingerprint.value,
                    timestamp=event.timestamp,
                    received_at=event.received_at,
                    distinct_id=event.distinct_id,
                    lib=event.lib,
                    lib_version=event.lib_version,
                    level=event.level,
                    properties=work.properties,
                )
            )
            by_uuid[event.uuid] = work
        inserted = store.insert_events(session, rows)
        store.update_aggregates(session, inserted)
        inserted_ids = {row.uuid for row in inserted}
        for row in rows:
            work = by_uuid[row.uuid]
            if row.uuid in inserted_ids:
                outcomes[work.index] = Outcome(
                    STORED,
                    uuid=row.uuid,
                    issue_id=row.issue_id,
                    fingerprint=row.fingerprint,
                    properties=row.properties,
                )
            else:  # a concurrent worker stored it between our duplicate check and the insert
                outcomes[work.index] = Outcome(DUPLICATE, uuid=row.uuid, issue_id=row.issue_id)
        counts[(project_id, today, diag.ACCEPTED)] += len(inserted)
        counts[(project_id, today, diag.DUPLICATE)] += len(rows) - len(inserted)
