"""Rule CRUD shared by the REST API and the UI: every write bumps the project's config revision in the same
transaction, so compiled-rule caches (workers) and remote config (SDKs) pick the change up.

Updating a rule always re-enables it (clears `disabled_data`), as PostHog does: editing is how a user answers a
rule the worker disabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts import assignees
from faultline.accounts.models import Project
from faultline.db import utcnow
from faultline.errors import ValidationFailed
from faultline.issues.models import SEVERITIES, Issue, IssueFingerprint
from faultline.protocol.seams import Assignee
from faultline.rules import revisions
from faultline.rules.filters import FilterError, compile_filters
from faultline.rules.models import (
    MATCH_ALL_FILTERS,
    AssignmentRule,
    BypassRule,
    GroupingRule,
    SeverityRule,
    SuppressionRule,
)

RuleModel = type[SuppressionRule] | type[GroupingRule] | type[AssignmentRule] | type[BypassRule] | type[SeverityRule]
AnyRule = SuppressionRule | GroupingRule | AssignmentRule | BypassRule | SeverityRule

# Every rule is evaluated for every event of its project: a bound keeps one project's cost per event bounded.
MAX_RULES_PER_KIND = 500


class RuleError(ValidationFailed, ValueError):
    """A write that cannot be accepted; `attr` is the offending field (None for a non-field error)."""


def check_compiles(filters: Mapping[str, Any]) -> None:
    """Semantic compile errors (bad regex, semver or between values) are non-field errors, as in PostHog."""
    try:
        compile_filters(filters)
    except FilterError as exc:
        raise RuleError(str(exc)) from None


def resolve_assignee(session: Session, project: Project, assignee: Assignee) -> dict[str, Any]:
    """Column values for an assignee that must belong to the project's organization."""
    if message := assignees.membership_error(session, project.organization_id, assignee):
        raise RuleError(message, "assignee__id")
    if assignee.type == "user":
        return {"user_id": assignee.id, "role_id": None}
    return {"user_id": None, "role_id": assignee.id}


def assignee_json(rule: GroupingRule | AssignmentRule) -> dict[str, Any] | None:
    return assignees.assignee_json(rule.user_id, rule.role_id)


def list_rules(session: Session, model: RuleModel, project_id: int) -> sa.Select[Any]:
    return sa.select(model).where(model.project_id == project_id).order_by(model.order_key, model.created_at, model.id)


def get_rule(session: Session, model: RuleModel, project_id: int, rule_id: str) -> Any:
    try:
        parsed = uuid.UUID(rule_id)
    except (ValueError, AttributeError, TypeError):
        return None
    return session.execute(sa.select(model).where(model.id == parsed, model.project_id == project_id)).scalar()


def _check_capacity(session: Session, model: RuleModel, project_id: int) -> None:
    count = session.execute(sa.select(sa.func.count()).where(model.project_id == project_id)).scalar_one()
    if count >= MAX_RULES_PER_KIND:
        raise RuleError(f"A project can have at most {MAX_RULES_PER_KIND} rules of this kind.", code="max_rules")


def _insert(session: Session, model: RuleModel, project_id: int, values: Mapping[str, Any]) -> Any:
    _check_capacity(session, model, project_id)
    now = utcnow()
    rule = model(**{"order_key": 0, **values}, project_id=project_id, created_at=now, updated_at=now)
    session.add(rule)
    session.flush()
    revisions.bump(session, project_id)
    return rule


def _update(session: Session, rule: AnyRule, values: Mapping[str, Any]) -> None:
    model = type(rule)
    session.execute(
        sa.update(model)
        .where(model.id == rule.id)
        .values(**values, disabled_data=sa.null(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.expire(rule)
    revisions.bump(session, rule.project_id)


def create_suppression_rule(
    session: Session, project_id: int, *, filters: Mapping[str, Any] | None, sampling_rate: float
) -> SuppressionRule:
    filters = dict(filters) if filters is not None else dict(MATCH_ALL_FILTERS)
    check_compiles(filters)
    return _insert(session, SuppressionRule, project_id, {"filters": filters, "sampling_rate": sampling_rate})


def update_suppression_rule(
    session: Session, rule: SuppressionRule, *, filters: Mapping[str, Any] | None, sampling_rate: float | None
) -> None:
    values: dict[str, Any] = {}
    if filters is not None:
        check_compiles(filters)
        values["filters"] = dict(filters)
    if sampling_rate is not None:
        values["sampling_rate"] = sampling_rate
    _update(session, rule, values)


def create_grouping_rule(
    session: Session,
    project: Project,
    *,
    filters: Mapping[str, Any],
    assignee: Assignee | None,
    description: str | None,
) -> GroupingRule:
    check_compiles(filters)
    owner = resolve_assignee(session, project, assignee) if assignee else {"user_id": None, "role_id": None}
    return _insert(session, GroupingRule, project.id, {"filters": dict(filters), "description": description, **owner})


def update_grouping_rule(session: Session, rule: GroupingRule, *, filters: Mapping[str, Any] | None) -> None:
    values: dict[str, Any] = {}
    if filters is not None:
        check_compiles(filters)
        values["filters"] = dict(filters)
    _update(session, rule, values)


def create_assignment_rule(
    session: Session,
    project: Project,
    *,
    filters: Mapping[str, Any],
    assignee: Assignee,
    order_key: int,
) -> AssignmentRule:
    check_compiles(filters)
    owner = resolve_assignee(session, project, assignee)
    return _insert(session, AssignmentRule, project.id, {"filters": dict(filters), "order_key": order_key, **owner})


def update_assignment_rule(
    session: Session,
    project: Project,
    rule: AssignmentRule,
    *,
    filters: Mapping[str, Any] | None,
    assignee: Assignee | None,
) -> None:
    values: dict[str, Any] = {}
    if filters is not None:
        check_compiles(filters)
        values["filters"] = dict(filters)
    if assignee is not None:
        values.update(resolve_assignee(session, project, assignee))
    _update(session, rule, values)


def create_bypass_rule(
    session: Session, project_id: int, *, filters: Mapping[str, Any], order_key: int = 0
) -> BypassRule:
    check_compiles(filters)
    return _insert(session, BypassRule, project_id, {"filters": dict(filters), "order_key": order_key})


def update_bypass_rule(session: Session, rule: BypassRule, *, filters: Mapping[str, Any] | None) -> None:
    values: dict[str, Any] = {}
    if filters is not None:
        check_compiles(filters)
        values["filters"] = dict(filters)
    _update(session, rule, values)


def check_severity(severity: Any) -> str:
    if severity not in SEVERITIES:
        raise RuleError(f'"{severity}" is not a valid choice.', "severity", "invalid_choice")
    return str(severity)


def create_severity_rule(
    session: Session, project_id: int, *, filters: Mapping[str, Any], severity: str, order_key: int = 0
) -> SeverityRule:
    check_compiles(filters)
    values = {"filters": dict(filters), "severity": check_severity(severity), "order_key": order_key}
    return _insert(session, SeverityRule, project_id, values)


def update_severity_rule(
    session: Session, rule: SeverityRule, *, filters: Mapping[str, Any] | None, severity: str | None
) -> None:
    values: dict[str, Any] = {}
    if filters is not None:
        check_compiles(filters)
        values["filters"] = dict(filters)
    if severity is not None:
        values["severity"] = check_severity(severity)
    _update(session, rule, values)


def enable_rule(session: Session, rule: AnyRule) -> None:
    """Re-enable a rule the digest disabled (its filters failed on an event): clear `disabled_data`, as every update
    does, and bump the revision so every worker's cache reloads it. If it fails again, it is disabled again."""
    _update(session, rule, {})


def place_last(session: Session, model: RuleModel, project_id: int, rule: AnyRule) -> None:
    """Move `rule` after every other rule of its list: someone adding a rule to an ordered list expects it to be
    evaluated after the rules already there (the API's create keeps PostHog's order_key instead)."""
    keys = session.execute(list_rules(session, model, project_id).with_only_columns(model.order_key)).scalars()
    reorder_rules(session, model, project_id, {str(rule.id): max(keys, default=0) + 1})


MOVES = ("up", "down")


def move_rule(session: Session, model: RuleModel, project_id: int, rule: AnyRule, direction: str) -> bool:
    """Swap `rule` with its neighbour in evaluation order and renumber the whole list 0…n-1 (ties in order_key,
    which the API allows, become explicit). False when it is already first (up) or last (down)."""
    if direction not in MOVES:
        raise RuleError("Move a rule up or down.", "direction", "invalid_choice")
    ordered = [r.id for r in session.execute(list_rules(session, model, project_id)).scalars()]
    index = ordered.index(rule.id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(ordered):
        return False
    ordered[index], ordered[other] = ordered[other], ordered[index]
    reorder_rules(session, model, project_id, {str(rule_id): position for position, rule_id in enumerate(ordered)})
    return True


def delete_rule(session: Session, model: RuleModel, project_id: int, rule_id: str) -> bool:
    rule = get_rule(session, model, project_id, rule_id)
    if rule is None:
        return False
    session.execute(sa.delete(model).where(model.id == rule.id))
    revisions.bump(session, project_id)
    return True


def reorder_rules(session: Session, model: RuleModel, project_id: int, orders: Mapping[str, int]) -> int:
    """Set order_key for the project's rules named in `orders`; unknown or foreign ids are ignored."""
    wanted: dict[uuid.UUID, int] = {}
    for key, order in orders.items():
        try:
            wanted[uuid.UUID(key)] = order
        except ValueError:
            continue
    if not wanted:
        return 0
    existing = session.execute(
        sa.select(model.id).where(model.project_id == project_id, model.id.in_(list(wanted)))
    ).scalars()
    now = utcnow()
    rows = [{"rule_id": rule_id, "order_key": wanted[rule_id], "updated_at": now} for rule_id in existing]
    if rows:
        table = model.__table__
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("rule_id"))
            .values(order_key=sa.bindparam("order_key"), updated_at=sa.bindparam("updated_at")),
            rows,
        )
        revisions.bump(session, project_id)
    return len(rows)


def grouping_rule_issues(
    session: Session, project_id: int, rule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The issue that currently owns each rule's `custom-rule:<id>` fingerprint (after merges/splits)."""
    if not rule_ids:
        return {}
    by_fingerprint = {f"custom-rule:{rule_id}": rule_id for rule_id in rule_ids}
    rows = session.execute(
        sa.select(IssueFingerprint.fingerprint, Issue.id, Issue.name)
        .join(Issue, Issue.id == IssueFingerprint.issue_id)
        .where(IssueFingerprint.project_id == project_id, IssueFingerprint.fingerprint.in_(list(by_fingerprint)))
    ).all()
    return {by_fingerprint[row.fingerprint]: {"id": row.id, "name": row.name} for row in rows}
