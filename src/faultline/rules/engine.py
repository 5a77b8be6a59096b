"""The digest pipeline's `RulesProvider`: per-project compiled rules, cached until the project's config changes.

* Rules are compiled once per cache load (`filters.compile_filters`), ordered by ascending `order_key` (ties by
  creation, so evaluation order is stable), and the cache entry is keyed by the project's config revision, which
  every rule write bumps in its own transaction — a worker in another process sees the change on its next batch.
* A rule that cannot be evaluated (filters that no longer compile: an invalid regex stored before validation
  existed, an operator this version does not know…) is disabled exactly like cymbal does it: `disabled_data =
  {"message", "props"}` (plus `"issue"` for assignment rules) is written in the batch's own transaction, the rest
  of the batch skips it, the other rules still run and the event is processed normally.
* Suppression sampling is deterministic per event (spec §5.6): the event uuid as a 128-bit big-endian integer,
  modulo 10 000, must fall below ``floor(rate * 10 000)``; a redelivered event gets the same verdict.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import utcnow
from faultline.protocol.seams import Assignee, GroupingDecision
from faultline.rules import revisions
from faultline.rules.filters import FilterError, Predicate, compile_filters
from faultline.rules.models import AssignmentRule, BypassRule, GroupingRule, SeverityRule, SuppressionRule

log = logging.getLogger(__name__)

RuleKind = Literal["suppression", "grouping", "assignment", "bypass", "severity"]
SAMPLING_BUCKETS = 10_000
# disabled_data keeps the offending event's properties for the UI; beyond this size only the exception summary.
MAX_DISABLED_PROPS_BYTES = 64 * 1024

_MODELS: dict[RuleKind, Any] = {
    "suppression": SuppressionRule,
    "grouping": GroupingRule,
    "assignment": AssignmentRule,
    "bypass": BypassRule,
    "severity": SeverityRule,
}


def sampling_bucket(event_uuid: uuid.UUID) -> int:
    return event_uuid.int % SAMPLING_BUCKETS


def sampling_threshold(rate: float) -> int:
    """Buckets below this are suppressed; computed as cymbal does (float multiply, then floor)."""
    if not math.isfinite(rate) or rate <= 0:
        return 0
    if rate >= 1:
        return SAMPLING_BUCKETS
    return math.floor(rate * SAMPLING_BUCKETS)


@dataclass(frozen=True)
class CompiledRule:
    id: uuid.UUID
    kind: RuleKind
    predicate: Predicate | None
    # Set when the filters do not compile: the rule is disabled on its first evaluation, with that event's props.
    error: str | None = None
    threshold: int = SAMPLING_BUCKETS
    assignee: Assignee | None = None
    severity: str | None = None


@dataclass
class CompiledProjectRules:
    project_id: int
    revision: int
    suppression: list[CompiledRule] = field(default_factory=list)
    grouping: list[CompiledRule] = field(default_factory=list)
    assignment: list[CompiledRule] = field(default_factory=list)
    bypass: list[CompiledRule] = field(default_factory=list)
    severity: list[CompiledRule] = field(default_factory=list)


def _assignee(user_id: int | None, role_id: uuid.UUID | None) -> Assignee | None:
    if user_id is not None:
        return Assignee("user", user_id)
    if role_id is not None:
        return Assignee("role", role_id)
    return None


def _compile(kind: RuleKind, row: Any) -> CompiledRule:
    try:
        predicate: Predicate | None = compile_filters(row.filters)
        error = None
    except FilterError as exc:
        predicate, error = None, str(exc)
    except RecursionError:
        predicate, error = None, "filters are nested too deeply"
    return CompiledRule(
        id=row.id,
        kind=kind,
        predicate=predicate,
        error=error,
        threshold=sampling_threshold(float(row.sampling_rate)) if kind == "suppression" else SAMPLING_BUCKETS,
        assignee=_assignee(row.user_id, row.role_id) if kind in ("grouping", "assignment") else None,
        severity=row.severity if kind == "severity" else None,
    )


def load_project_rules(session: Session, project_id: int, revision: int) -> CompiledProjectRules:
    compiled = CompiledProjectRules(project_id=project_id, revision=revision)
    for kind, model in _MODELS.items():
        rows = session.execute(
            sa.select(model).where(model.project_id == project_id).order_by(model.order_key, model.created_at, model.id)
        ).scalars()
        # JSON null and SQL NULL both load as None: filter here rather than with a dialect-dependent IS NULL.
        getattr(compiled, kind).extend(_compile(kind, row) for row in rows if row.disabled_data is None)
    return compiled


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    raw = orjson.dumps(dict(value), default=str, option=orjson.OPT_NON_STR_KEYS)
    if len(raw) > MAX_DISABLED_PROPS_BYTES:
        summary = {k: v for k, v in value.items() if k.startswith("$exception_") and k != "$exception_list"}
        raw = orjson.dumps({**summary, "$truncated": True}, default=str, option=orjson.OPT_NON_STR_KEYS)
        if len(raw) > MAX_DISABLED_PROPS_BYTES:
            raw = b'{"$truncated": true}'
    return orjson.loads(raw)


class BoundProjectRules:
    """One project's compiled rules bound to the digest batch's session (where disables are written)."""

    def __init__(self, compiled: CompiledProjectRules, session: Session, engine: RulesEngine) -> None:
        self._compiled = compiled
        self._session = session
        self._engine = engine
        self._disabled: set[uuid.UUID] = set()

    @property
    def revision(self) -> int:
        return self._compiled.revision

    def _matches(self, rule: CompiledRule, properties: Mapping[str, Any], issue: Mapping[str, Any] | None) -> bool:
        if rule.id in self._disabled:
            return False
        if rule.predicate is not None:
            try:
                return rule.predicate(properties, issue)
            except Exception as exc:  # any failure disables the rule, never the event
                message = f"{type(exc).__name__}: {exc}"
        else:
            message = rule.error or "rule could not be compiled"
        self._disable(rule, message, properties, issue)
        return False

    def _disable(
        self, rule: CompiledRule, message: str, properties: Mapping[str, Any], issue: Mapping[str, Any] | None
    ) -> None:
        self._disabled.add(rule.id)
        data: dict[str, Any] = {"message": message}
        if rule.kind == "assignment":
            data["issue"] = _json_safe(issue)
        data["props"] = _json_safe(properties)
        model = _MODELS[rule.kind]
        self._session.execute(
            sa.update(model)
            .where(model.id == rule.id, model.project_id == self._compiled.project_id)
            .values(disabled_data=data, updated_at=utcnow())
        )
        revisions.bump(self._session, self._compiled.project_id)
        self._engine.invalidate(self._compiled.project_id)
        log.warning("disabled %s rule %s of project %s: %s", rule.kind, rule.id, self._compiled.project_id, message)

    def grouping(self, properties: Mapping[str, Any]) -> GroupingDecision | None:
        for rule in self._compiled.grouping:
            if self._matches(rule, properties, None):
                return GroupingDecision(rule_id=rule.id, assignee=rule.assignee)
        return None

    def suppression(self, properties: Mapping[str, Any], event_uuid: uuid.UUID) -> uuid.UUID | None:
        bucket = sampling_bucket(event_uuid)
        for rule in self._compiled.suppression:
            # rate <= 0 never suppresses; skipping its evaluation changes nothing but the cost.
            if rule.threshold <= 0:
                continue
            if self._matches(rule, properties, None) and bucket < rule.threshold:
                return rule.id
        return None

    def assignment(self, properties: Mapping[str, Any], issue: Mapping[str, Any]) -> Assignee | None:
        for rule in self._compiled.assignment:
            if rule.assignee is not None and self._matches(rule, properties, issue):
                return rule.assignee
        return None

    def bypass(self, properties: Mapping[str, Any]) -> uuid.UUID | None:
        for rule in self._compiled.bypass:
            if self._matches(rule, properties, None):
                return rule.id
        return None

    def severity(self, properties: Mapping[str, Any]) -> str | None:
        for rule in self._compiled.severity:
            if self._matches(rule, properties, None):
                return rule.severity
        return None


class RulesEngine:
    """`RulesProvider` with a per-project cache validated against the config revision on every call.

    One per application and database, built by the composition root (`faultline.runtime`): cache keys are project
    ids, so an engine must never serve two databases (tests run several in one process)."""

    def __init__(self) -> None:
        self._cache: dict[int, CompiledProjectRules] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times rules were (re)compiled — observable by tests and benchmarks

    def for_project(self, session: Session, project_id: int) -> BoundProjectRules:
        revision = revisions.current(session, project_id)
        with self._lock:
            cached = self._cache.get(project_id)
        if cached is None or cached.revision != revision:
            cached = load_project_rules(session, project_id, revision)
            with self._lock:
                self._cache[project_id] = cached
                self.loads += 1
        return BoundProjectRules(cached, session, self)

    def invalidate(self, project_id: int | None = None) -> None:
        with self._lock:
            if project_id is None:
                self._cache.clear()
            else:
                self._cache.pop(project_id, None)
