"""The digest pipeline: the stages of spec §5.1 as a flat list of functions over typed data, for a whole batch.

    parse → resolve → fingerprint → rules (suppression) → link → store

    stage        function             input → output                                  where
    parse        `parse_items`        queued payloads → `Parsed` per project           no session
    resolve      `resolve_stage`      `Parsed` → `Resolved` (frames, via symbols)      read session
    (duplicates) `drop_duplicates`    `Resolved` → the ones not stored yet             write transaction
    fingerprint  `fingerprint_stage`  `Resolved` → `Fingerprinted` (+ metadata)        write transaction
    rules        `suppress_stage`     `Fingerprinted` → the ones no rule suppresses    write transaction
    link         `link_stage`         `Fingerprinted` → issue per fingerprint          write transaction
                                      (new-issue limiter, severity rules on new issues)
    store        `store_stage`        `Fingerprinted` + issues → stored rows           write transaction
                                      (per-issue rate limit: over it counted, not stored)

Frame resolution may be slow (a script and source map fetched from the web, a SourceMapCache built), so it runs
first, on a read session, outside any write transaction: on SQLite the single write lock is then held only for the
short second half, which runs in one transaction and is all-or-nothing for the database. What the symbol resolver
wants written (negative symbol-set rows, `last_used`) is applied at the start of that transaction; if an upload
changed the symbols in between, the batch is resolved again (see `faultline.protocol.seams.SymbolBatch`).
Duplicates are recognised inside the transaction, before linking, so a replayed event can neither reopen an issue
nor create one.

Each event ends with an `Outcome`, recorded in the batch's `Ledger` together with the per-project counters;
per-event failures (invalid payloads, suppression) ride along as outcomes and counters instead of failing the
batch. Only infrastructure errors (the database) escape, and the worker then retries or isolates the batch.
Re-processing stored events after a late symbol upload reuses `FrameResolver`, `fingerprint_stage`'s pieces and
`store.upsert_frames` (`faultline.pipeline.reprocess`).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from faultline.alerts import spikes
from faultline.db import Database, utcnow
from faultline.ingest import diagnostics as diag
from faultline.issues import breakdowns, tags
from faultline.issues.aggregates import search_columns
from faultline.issues.culprit import culprit_of
from faultline.issues.models import IssueStatus
from faultline.pipeline import fingerprint as fp
from faultline.pipeline import linking, store
from faultline.pipeline.parse import InvalidEvent
from faultline.pipeline.protocols import parse_payload
from faultline.pipeline.resolution import FrameResolver, metadata, resolve_exceptions
from faultline.protocol import (
    Assignee,
    Event,
    NoRules,
    NoSymbols,
    ProjectRules,
    Properties,
    ResolvedException,
    RulesProvider,
    SymbolBatch,
    SymbolResolver,
)
from faultline.quotas import limits as quotas
from faultline.releases import service as releases
from faultline.retention import usage

log = logging.getLogger(__name__)

STORED = "stored"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
INVALID = "invalid"
RATE_LIMITED = "rate_limited"  # over the per-issue limit: counted on its issue, body not stored
NEW_ISSUE_LIMITED = "new_issue_limited"  # would have opened an issue past the project's new-issue limit

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
    uuid: UUID | None = None
    issue_id: UUID | None = None
    fingerprint: str | None = None
    reason: str | None = None
    properties: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Limits:
    """The digest's limits that come from configuration (per-issue limits come from each project's settings).

    `clock` is when "now" is for the limit windows: injected so tests never depend on the wall clock."""

    new_issues_per_hour: int = 0  # 0 = no limit
    clock: Callable[[], dt.datetime] = utcnow


# -- what flows between the stages --------------------------------------------------------------------------------


@dataclass(slots=True)
class Parsed:
    index: int  # position in the batch, where its outcome goes
    event: Event


@dataclass(slots=True)
class Resolved:
    index: int
    event: Event
    exceptions: list[ResolvedException]


@dataclass(slots=True)
class Fingerprinted:
    index: int
    event: Event
    exceptions: list[ResolvedException]
    properties: Properties
    fingerprint: fp.Fingerprint


@dataclass
class Ledger:
    """The batch's accounting: one outcome per incoming item, ingestion counters and error rows."""

    outcomes: list[Outcome | None]
    counts: dict[tuple[int, dt.date, str], int] = field(default_factory=lambda: defaultdict(int))
    error_rows: list[dict[str, Any]] = field(default_factory=list)
    today: dt.date = field(default_factory=lambda: utcnow().date())

    def settle(self, index: int, outcome: Outcome, project_id: int, counter: str) -> None:
        self.outcomes[index] = outcome
        self.counts[(project_id, self.today, counter)] += 1

    def count(self, project_id: int, counter: str, n: int) -> None:
        self.counts[(project_id, self.today, counter)] += n

    def final(self) -> list[Outcome]:
        return [o if o is not None else Outcome(INVALID, reason="not processed") for o in self.outcomes]


# -- the stages ---------------------------------------------------------------------------------------------------


def parse_items(items: Sequence[Incoming], ledger: Ledger) -> dict[int, list[Parsed]]:
    """Stage 0: payloads → events by project; invalid ones are settled in the ledger."""
    by_project: dict[int, list[Parsed]] = defaultdict(list)
    for index, item in enumerate(items):
        try:
            event = parse_payload(item.project_id, item.payload)
        except InvalidEvent as exc:
            ledger.settle(index, Outcome(INVALID, reason=exc.message), item.project_id, diag.DROPPED_INVALID)
            ledger.error_rows.append(diag.error_row(item.project_id, "digest", exc.code, exc.message))
            continue
        by_project[item.project_id].append(Parsed(index, event))
    return by_project


def resolve_stage(parsed: dict[int, list[Parsed]], resolver: FrameResolver) -> dict[int, list[Resolved]]:
    """Stage 1, before the write transaction. Duplicates are resolved too (they are only recognised inside the
    transaction): cheap, since resolutions are memoised per raw frame and symbol sets cached per process, and it
    keeps a batch without symbol frames from touching the database before it writes."""
    return {
        project_id: [
            Resolved(p.index, p.event, resolve_exceptions(resolver, project_id, p.event.exceptions)) for p in items
        ]
        for project_id, items in parsed.items()
    }


def drop_duplicates(session: Session, project_id: int, items: list[Resolved], ledger: Ledger) -> list[Resolved]:
    """Events already stored (SDK retry, queue redelivery) or repeated within this batch."""
    stored_before = store.existing_uuids(
        session, project_id, [r.event.uuid for r in items], [r.event.timestamp for r in items]
    )
    fresh: list[Resolved] = []
    seen: set[uuid.UUID] = set()
    for item in items:
        if item.event.uuid in stored_before or item.event.uuid in seen:
            ledger.settle(item.index, Outcome(DUPLICATE, uuid=item.event.uuid), project_id, diag.DUPLICATE)
        else:
            seen.add(item.event.uuid)
            fresh.append(item)
    return fresh


def fingerprint_properties(properties: Properties, fingerprint: fp.Fingerprint) -> None:
    """Write the fingerprint keys into an event's properties (digest and re-processing alike)."""
    properties["$exception_fingerprint"] = fingerprint.value
    properties["$exception_fingerprint_record"] = fingerprint.record
    if fingerprint.version:
        properties["$exception_fingerprint_version"] = fingerprint.version


def fingerprint_stage(items: list[Resolved], rules: ProjectRules) -> list[Fingerprinted]:
    """Stage 2: metadata of the resolved frames, then the fingerprint (manual > grouping rule > V1)."""
    out = []
    for item in items:
        event = item.event
        props = dict(event.properties)
        props["$exception_list"] = [exc.as_json() for exc in item.exceptions]
        props.update(metadata(item.exceptions))
        template = event.fingerprint_template
        if event.client_fingerprint is not None:
            fingerprint = fp.manual(event.client_fingerprint)
        elif template and not any(fp.is_default(piece) for piece in template):
            fingerprint = fp.templated(template, None)  # a Sentry fingerprint without the default: like manual
        else:
            props["$exception_fingerprint"] = None
            decision = rules.grouping(props)
            if decision is not None:
                fingerprint = fp.custom(decision)
            elif event.message is not None:  # message-only (Sentry): grouped by its normalised message
                fingerprint = fp.message(event.message)
            else:
                fingerprint = fp.v1(item.exceptions)
            if template:
                fingerprint = fp.templated(template, fingerprint)
        fingerprint_properties(props, fingerprint)
        props.pop("$exception_issue_id", None)
        out.append(Fingerprinted(item.index, event, item.exceptions, props, fingerprint))
    return out


def suppress_stage(
    project_id: int, items: list[Fingerprinted], rules: ProjectRules, ledger: Ledger
) -> list[Fingerprinted]:
    """Stage 3a: server-side suppression rules; the events no rule suppresses."""
    kept: list[Fingerprinted] = []
    for item in items:
        rule_id = rules.suppression(item.properties, item.event.uuid)
        if rule_id is None:
            kept.append(item)
            continue
        outcome = Outcome(
            SUPPRESSED,
            uuid=item.event.uuid,
            fingerprint=item.fingerprint.value,
            reason=f"Suppressed by rule: {rule_id}",
        )
        ledger.settle(item.index, outcome, project_id, diag.DROPPED_SUPPRESSED)
    return kept


def release_stage(session: Session, project_id: int, items: list[Fingerprinted]) -> None:
    """Stage 3a': events that name their release by version (Sentry `release`) create or find that release and
    carry it as `$exception_release`, as events whose symbol sets belong to a release do."""
    cache: dict[str, dict[str, Any]] = {}
    for item in items:
        version = item.event.release
        if not version or "$exception_release" in item.properties:
            continue
        if version not in cache:
            release = releases.ensure_version(session, project_id, version)
            cache[version] = {
                "id": str(release.id),
                "hash_id": release.hash_id,
                "version": release.version,
                "project": release.project_name,
            }
        item.properties["$exception_release"] = cache[version]


def _limit_new_issues(
    session: Session, project_id: int, missing: list[linking.NewIssue], limits: Limits
) -> list[linking.NewIssue]:
    """The new issues the project's hourly budget still allows, earliest first. Fails open: a limiter that cannot
    be read or written (its savepoint rolled back) lets every issue through rather than losing events."""
    if not limits.new_issues_per_hour or not missing:
        return missing
    try:
        with session.begin_nested():
            allowed = quotas.admit_new_issues(
                session, project_id, len(missing), limits.new_issues_per_hour, limits.clock()
            )
    except Exception:
        log.exception("new-issue limiter of project %s failed; letting issues through", project_id)
        return missing
    return sorted(missing, key=lambda n: n.first_seen)[:allowed]


def link_stage(
    session: Session,
    project_id: int,
    items: list[Fingerprinted],
    rules: ProjectRules,
    limits: Limits | None = None,
) -> tuple[dict[str, linking.IssueRef], set[uuid.UUID]]:
    """Stage 3b: fingerprint → issue (found, created or reopened; new and reopened ones assigned and announced).
    The earliest event of each fingerprint names a new issue and dates its fingerprint; new issues get the severity
    of the first matching severity rule. Fingerprints the new-issue limiter refused have no ref. Also returns the
    events that created or reopened an issue: they are pinned (never evicted, never rate limited)."""
    first_by_fp: dict[str, Fingerprinted] = {}
    for item in items:
        key = item.fingerprint.value
        if key not in first_by_fp or item.event.timestamp < first_by_fp[key].event.timestamp:
            first_by_fp[key] = item
    refs = linking.lookup_and_lock(session, project_id, list(first_by_fp))
    missing = []
    for key, item in first_by_fp.items():
        if key in refs:
            continue
        name, description = linking.issue_texts(item.properties, [e.json for e in item.exceptions])
        search = search_columns(
            item.properties.get("$exception_types"),
            item.properties.get("$exception_values"),
            item.properties.get("$exception_list"),
        )
        culprit = culprit_of([e.as_json() for e in item.exceptions])
        missing.append(linking.NewIssue(key, name, description, item.event.timestamp, **search, culprit=culprit))
    missing = _limit_new_issues(session, project_id, missing, limits or Limits())
    refs.update(linking.create(session, project_id, missing))
    reopened = linking.reopen(session, [refs[k] for k in first_by_fp if k in refs])
    by_issue = {ref.id: key for key, ref in refs.items() if key in first_by_fp}
    linking.mark_regressions(
        session, {ref.id: (ref, tags.release_of(first_by_fp[by_issue[ref.id]].properties)) for ref in reopened}
    )
    pinned: set[uuid.UUID] = set()
    severities: list[dict[str, Any]] = []
    for key, ref in refs.items():
        if not (ref.created or ref.reopened):
            continue
        item = first_by_fp[key]
        pinned.add(item.event.uuid)
        props = {**item.properties, "$exception_issue_id": str(ref.id)}
        if ref.created and (severity := rules.severity(props)) is not None:
            ref.severity = severity
            severities.append({"b_id": ref.id, "b_severity": severity})
        issue_view = {"status": ref.status, "name": ref.name, "description": ref.description}
        grouping = item.fingerprint.grouping
        assignee: Assignee | None = None
        trigger: dict[str, str] = {}
        if grouping is not None and grouping.assignee:
            assignee = grouping.assignee
            trigger = {"type": "grouping_rule", "rule_id": str(grouping.rule_id)}
        if assignee is None:
            assignee = rules.assignment(props, issue_view)
            trigger = {"type": "assignment_rule"}
        current = linking.assign(session, ref.id, project_id, assignee, trigger=trigger, name=ref.name)
        linking.announce(session, project_id, ref, key, item.event.timestamp, current, item.event.uuid)
    linking.set_severities(session, severities)
    return refs, pinned


def rate_limit_stage(
    session: Session,
    items: list[store.EventRow],
    limit: quotas.WindowLimit | None,
    rules: ProjectRules,
    now: dt.datetime,
) -> tuple[list[store.EventRow], list[store.EventRow]]:
    """Stage 4: the per-issue rate limit → (rows to store, rows over the limit). Rows a bypass rule matches are
    exempt and do not use the window. A pinned row (it opened or reopened its issue) takes the window's first slot
    and is stored even when the window is spent, so every issue keeps the event that explains it."""
    if limit is None:
        return items, []
    exempt: set[uuid.UUID] = set()
    wanted: dict[uuid.UUID, int] = defaultdict(int)
    for row in items:
        if rules.bypass(row.properties) is not None:
            exempt.add(row.uuid)
        else:
            wanted[row.issue_id] += 1
    admitted = quotas.admit_issue_events(session, limit, wanted, now)
    keep, over = [], []
    for row in sorted(items, key=lambda r: not r.pinned):  # stable: pinned rows first, then batch order
        if row.uuid in exempt:
            keep.append(row)
        elif admitted[row.issue_id] > 0 or row.pinned:
            admitted[row.issue_id] -= 1
            keep.append(row)
        else:
            over.append(row)
    return keep, over


def store_stage(
    session: Session,
    project_id: int,
    items: list[Fingerprinted],
    refs: dict[str, linking.IssueRef],
    ledger: Ledger,
    *,
    rules: ProjectRules | None = None,
    pinned: set[uuid.UUID] | None = None,
    limit: quotas.WindowLimit | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Stage 3c + 4 + 5: drop events of suppressed issues, hold back those over the per-issue limit (counted on
    their issue all the same), store the rest with their aggregates and their bytes in the project's usage."""
    rows: list[store.EventRow] = []
    by_uuid: dict[uuid.UUID, Fingerprinted] = {}
    for item in items:
        ref = refs[item.fingerprint.value]
        event = item.event
        if ref.status == IssueStatus.SUPPRESSED:
            outcome = Outcome(
                SUPPRESSED,
                uuid=event.uuid,
                issue_id=ref.id,
                fingerprint=item.fingerprint.value,
                reason=f"Suppressed issue: {ref.id}",
            )
            ledger.settle(item.index, outcome, project_id, diag.DROPPED_SUPPRESSED)
            continue
        item.properties["$exception_issue_id"] = str(ref.id)
        facts = breakdowns.facts(item.properties)
        rows.append(
            store.EventRow(
                uuid=event.uuid,
                project_id=project_id,
                issue_id=ref.id,
                fingerprint=item.fingerprint.value,
                timestamp=event.timestamp,
                received_at=event.received_at,
                distinct_id=event.distinct_id,
                lib=event.lib,
                lib_version=event.lib_version,
                level=event.level,
                properties=item.properties,
                pinned=event.uuid in (pinned or ()),
                browser=facts["browser"],
                os=facts["os"],
                url=facts["url"],
            )
        )
        by_uuid[event.uuid] = item
    rows, over = rate_limit_stage(session, rows, limit, rules or NoRules(), now or utcnow())
    for row in over:
        outcome = Outcome(
            RATE_LIMITED,
            uuid=row.uuid,
            issue_id=row.issue_id,
            fingerprint=row.fingerprint,
            reason=f"Over the per-issue rate limit of issue {row.issue_id}",
        )
        ledger.settle(by_uuid[row.uuid].index, outcome, project_id, diag.RATE_LIMITED)
    inserted = store.insert_events(session, rows)
    # Held-back events advance their issue's counters too (a redelivered batch may count them twice: they leave no
    # row for the uuid check to find — the price of not storing them).
    store.update_aggregates(session, [*inserted, *over])
    usage.add(session, project_id, sum(row.size_bytes for row in inserted), len(inserted))
    # Spike buckets and thresholds from this batch's events, held-back ones included (a burst is exactly when the
    # rate limits hold events back), in this transaction (alerts are sent later).
    stored = [spikes.StoredEvent(row.issue_id, row.timestamp, row.uuid) for row in [*inserted, *over]]
    spikes.record_batch(session, project_id, stored, utcnow())
    inserted_ids = {row.uuid for row in inserted}
    for row in rows:
        index = by_uuid[row.uuid].index
        if row.uuid in inserted_ids:
            ledger.outcomes[index] = Outcome(
                STORED, uuid=row.uuid, issue_id=row.issue_id, fingerprint=row.fingerprint, properties=row.properties
            )
        else:  # a concurrent worker stored it between our duplicate check and the insert
            ledger.outcomes[index] = Outcome(DUPLICATE, uuid=row.uuid, issue_id=row.issue_id)
    ledger.count(project_id, diag.ACCEPTED, len(inserted))
    ledger.count(project_id, diag.DUPLICATE, len(rows) - len(inserted))


# -- the pipeline -------------------------------------------------------------------------------------------------


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
        limits: Limits | None = None,
    ) -> None:
        self.db = db
        self.limits = limits or Limits()
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
        ledger = Ledger(outcomes=[None] * len(items))
        parsed = parse_items(items, ledger)
        symbols: SymbolBatch | None = None
        committed = False
        written_frames: list[dict[str, Any]] = []
        try:
            with self.db.read() as read_session:
                symbols = self.symbols.batch(read_session)
                resolver = FrameResolver(symbols)
                resolved = resolve_stage(parsed, resolver)
            with self.db.write() as session:
                applied = symbols.apply(session)
                if applied.stale and not last:
                    raise _StaleSymbols()
                for project_id, project_items in resolved.items():
                    self._write_project(session, project_id, project_items, ledger)
                frame_rows = self.recent_frames.fresh(resolver.stack_frame_rows(applied.replaced_ids))
                store.upsert_frames(session, frame_rows)
                written_frames.extend(frame_rows)
                for message in dict.fromkeys(resolver.errors):
                    ledger.error_rows.append(diag.error_row(None, "digest", "symbol_resolution", message))
                diag.add_counters(session, ledger.counts)
                diag.add_errors(session, ledger.error_rows)
            committed = True
        finally:
            if symbols is not None:
                symbols.finish(committed)
        self.recent_frames.remember(written_frames)
        return ledger.final()

    def _write_project(self, session: Session, project_id: int, items: list[Resolved], ledger: Ledger) -> None:
        fresh = drop_duplicates(session, project_id, items, ledger)
        if not fresh:
            return
        rules = self.rules.for_project(session, project_id)
        kept = suppress_stage(project_id, fingerprint_stage(fresh, rules), rules, ledger)
        if not kept:
            return
        release_stage(session, project_id, kept)
        refs, pinned = link_stage(session, project_id, kept, rules, self.limits)
        linked = []
        for item in kept:
            if item.fingerprint.value in refs:
                linked.append(item)
                continue
            outcome = Outcome(
                NEW_ISSUE_LIMITED,
                uuid=item.event.uuid,
                fingerprint=item.fingerprint.value,
                reason="The project created more new issues this hour than FAULTLINE_NEW_ISSUES_PER_HOUR allows",
            )
            ledger.settle(item.index, outcome, project_id, diag.NEW_ISSUE_LIMITED)
        if not linked:
            return
        limit = quotas.per_issue_limit(session, project_id)
        store_stage(
            session, project_id, linked, refs, ledger, rules=rules, pinned=pinned, limit=limit, now=self.limits.clock()
        )
