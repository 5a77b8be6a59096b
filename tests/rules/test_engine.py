"""The RulesProvider of the digest pipeline, against real databases (SQLite file and the machine's PostgreSQL)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from faultline import migrate
from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.protocol.seams import Assignee, GroupingDecision
from faultline.rules import revisions
from faultline.rules import service as rules
from faultline.rules.engine import RulesEngine, sampling_threshold
from faultline.rules.models import AssignmentRule, GroupingRule, SuppressionRule
from tests.conftest import Tenant, make_tenant

TYPES = "$exception_types"


def where(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"type": "AND", "values": [{"key": key, "type": "event", "operator": operator, "value": value}]}


def props(*types: str, **extra: Any) -> dict[str, Any]:
    return {TYPES: list(types), "$exception_values": [f"{t} happened" for t in types], **extra}


def insert_unchecked(db: Database, model: type, project_id: int, filters: dict[str, Any], **values: Any) -> uuid.UUID:
    """A rule stored without API validation (imported from elsewhere, or written by an older version)."""
    with db.write() as session:
        rule = model(project_id=project_id, filters=filters, order_key=values.pop("order_key", 0), **values)
        session.add(rule)
        session.flush()
        revisions.bump(session, project_id)
        return rule.id


def disabled_data(db: Database, model: type, rule_id: uuid.UUID) -> Any:
    with db.read() as session:
        return session.execute(sa.select(model.disabled_data).where(model.id == rule_id)).scalar()


@pytest.fixture
def tenant(client, db: Database) -> Tenant:
    return make_tenant(db, email="rules@acme.test")


def test_rules_compile_once_and_reload_after_every_write(db: Database, tenant: Tenant) -> None:
    engine = RulesEngine()
    pid = tenant.project.id
    with db.write() as session:
        assert engine.for_project(session, pid).suppression(props("TypeError"), uuid.uuid4()) is None
        engine.for_project(session, pid)
    assert engine.loads == 1

    with db.write() as session:
        rule = rules.create_suppression_rule(session, pid, filters=where(TYPES, "exact", "TypeError"), sampling_rate=1)
    with db.write() as session:
        assert engine.for_project(session, pid).suppression(props("TypeError"), uuid.uuid4()) == rule.id
        assert engine.for_project(session, pid).suppression(props("ValueError"), uuid.uuid4()) is None
    assert engine.loads == 2

    with db.write() as session:
        rules.update_suppression_rule(
            session,
            rules.get_rule(session, SuppressionRule, pid, str(rule.id)),
            filters=where(TYPES, "exact", "X"),
            sampling_rate=None,
        )
    with db.write() as session:
        assert engine.for_project(session, pid).suppression(props("TypeError"), uuid.uuid4()) is None
    with db.write() as session:
        rules.delete_rule(session, SuppressionRule, pid, str(rule.id))
    with db.write() as session:
        assert engine.for_project(session, pid).suppression(props("X"), uuid.uuid4()) is None
    assert engine.loads == 4


def test_another_process_sees_writes_through_the_revision(tmp_path) -> None:
    """Two Database objects on one file stand for the API process and a worker process."""
    url = f"sqlite:///{tmp_path}/shared.db"
    api_db, worker_db = Database(url), Database(url)
    try:
        migrate.upgrade(api_db.engine)
        tenant = make_tenant(api_db, email="p@acme.test")
        engine = RulesEngine()
        with worker_db.write() as session:
            assert engine.for_project(session, tenant.project.id).grouping(props("TypeError")) is None
        with api_db.write() as session:
            rule = rules.create_grouping_rule(
                session, tenant.project, filters=where(TYPES, "exact", "TypeError"), assignee=None, description=None
            )
        with worker_db.write() as session:
            assert engine.for_project(session, tenant.project.id).grouping(props("TypeError")) == GroupingDecision(
                rule.id
            )
    finally:
        api_db.dispose()
        worker_db.dispose()


@pytest.mark.parametrize("rate", [0.5, 0.57, 0.0001, 0.9999])
def test_suppression_sampling_is_the_uuid_bucket(db: Database, tenant: Tenant, rate: float) -> None:
    with db.write() as session:
        rule = rules.create_suppression_rule(session, tenant.project.id, filters=None, sampling_rate=rate)
    engine = RulesEngine()
    event_ids = [uuid.uuid4() for _ in range(3000)]
    # Edge buckets too: the formula must hold exactly at the threshold.
    threshold = math.floor(rate * 10_000)
    event_ids += [uuid.UUID(int=(n << 64) * 10_000 + b) for n in range(3) for b in (threshold - 1, threshold)]
    with db.write() as session:
        bound = engine.for_project(session, tenant.project.id)
        dropped = {u for u in event_ids if bound.suppression(props("TypeError"), u) == rule.id}
    assert dropped == {u for u in event_ids if u.int % 10_000 < threshold}
    assert sampling_threshold(0.57) == 5699  # float multiply then floor, like cymbal (0.57 * 1e4 = 5699.99…)


def test_rate_zero_never_and_rate_one_always_suppress(db: Database, tenant: Tenant) -> None:
    with db.write() as session:
        never = rules.create_suppression_rule(
            session, tenant.project.id, filters=where(TYPES, "exact", "A"), sampling_rate=0
        )
        always = rules.create_suppression_rule(
            session, tenant.project.id, filters=where(TYPES, "exact", "B"), sampling_rate=1
        )
    engine = RulesEngine()
    with db.write() as session:
        bound = engine.for_project(session, tenant.project.id)
        assert all(bound.suppression(props("A"), uuid.uuid4()) is None for _ in range(200))
        assert all(bound.suppression(props("B"), uuid.uuid4()) == always.id for _ in range(200))
    assert never.id != always.id


def test_first_match_wins_in_ascending_order_key(db: Database, tenant: Tenant) -> None:
    pid = tenant.project.id
    with db.write() as session:
        role = accounts.create_role(session, tenant.organization, "Frontend")
        broad = rules.create_grouping_rule(
            session,
            tenant.project,
            filters=where(TYPES, "icontains", "error"),
            assignee=Assignee("role", role.id),
            description=None,
        )
        narrow = rules.create_grouping_rule(
            session,
            tenant.project,
            filters=where(TYPES, "exact", "TypeError"),
            assignee=Assignee("user", tenant.user.id),
            description=None,
        )
        rules.reorder_rules(session, GroupingRule, pid, {str(broad.id): 10, str(narrow.id): 5})
    engine = RulesEngine()
    with db.write() as session:
        decision = engine.for_project(session, pid).grouping(props("TypeError"))
    assert decision == GroupingDecision(narrow.id, Assignee("user", tenant.user.id))
    assert decision.fingerprint == f"custom-rule:{narrow.id}"
    with db.write() as session:
        rules.reorder_rules(session, GroupingRule, pid, {str(broad.id): 1})
    with db.write() as session:
        assert engine.for_project(session, pid).grouping(props("TypeError")) == GroupingDecision(
            broad.id, Assignee("role", role.id)
        )


def test_assignment_rules_see_the_issue(db: Database, tenant: Tenant) -> None:
    pid = tenant.project.id
    issue_filter = {
        "type": "AND",
        "values": [{"key": "name", "type": "error_tracking_issue", "operator": "icontains", "value": "checkout"}],
    }
    with db.write() as session:
        rules.create_assignment_rule(
            session, tenant.project, filters=issue_filter, assignee=Assignee("user", tenant.user.id), order_key=0
        )
    engine = RulesEngine()
    with db.write() as session:
        bound = engine.for_project(session, pid)
        assert bound.assignment(props("TypeError"), {"name": "Checkout failed", "status": "active"}) == Assignee(
            "user", tenant.user.id
        )
        assert bound.assignment(props("TypeError"), {"name": "Login failed", "status": "active"}) is None


def _erroring_rule_is_disabled_and_evaluation_continues(db: Database, project_id: int, user_id: int) -> None:
    bad_regex = where(TYPES, "regex", "(unclosed")
    broken = insert_unchecked(db, SuppressionRule, project_id, bad_regex, sampling_rate=1.0, order_key=0)
    fallback = insert_unchecked(
        db, SuppressionRule, project_id, where(TYPES, "exact", "TypeError"), sampling_rate=1.0, order_key=1
    )
    broken_assign = insert_unchecked(
        db, AssignmentRule, project_id, where(TYPES, "semver_caret", "nope"), user_id=user_id
    )
    engine = RulesEngine()
    event = props("TypeError", lib="web")
    with db.write() as session:
        bound = engine.for_project(session, project_id)
        assert bound.suppression(event, uuid.uuid4()) == fallback
        assert bound.suppression(event, uuid.uuid4()) == fallback  # skipped for the rest of the batch
        assert bound.assignment(event, {"status": "active", "name": "TypeError", "description": None}) is None
    data = disabled_data(db, SuppressionRule, broken)
    assert set(data) == {"message", "props"}
    assert "Invalid regular expression" in data["message"]
    assert data["props"][TYPES] == ["TypeError"]
    assigned = disabled_data(db, AssignmentRule, broken_assign)
    assert set(assigned) == {"message", "issue", "props"} and assigned["issue"]["status"] == "active"
    assert disabled_data(db, SuppressionRule, fallback) is None

    # Committed: the next batch no longer loads the disabled rules; updating a rule re-enables it.
    with db.write() as session:
        bound = engine.for_project(session, project_id)
        assert bound.suppression(event, uuid.uuid4()) == fallback
    with db.write() as session:
        rule = rules.get_rule(session, SuppressionRule, project_id, str(broken))
        rules.update_suppression_rule(session, rule, filters=where(TYPES, "exact", "ValueError"), sampling_rate=None)
    assert disabled_data(db, SuppressionRule, broken) is None
    with db.write() as session:
        assert engine.for_project(session, project_id).suppression(props("ValueError"), uuid.uuid4()) == broken


def test_erroring_rule_is_disabled_on_sqlite(db: Database, tenant: Tenant) -> None:
    _erroring_rule_is_disabled_and_evaluation_continues(db, tenant.project.id, tenant.user.id)


def test_disable_rolled_back_with_its_batch_is_redone(db: Database, tenant: Tenant) -> None:
    broken = insert_unchecked(db, GroupingRule, tenant.project.id, where(TYPES, "regex", "("))
    engine = RulesEngine()

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.write() as session:
        assert engine.for_project(session, tenant.project.id).grouping(props("TypeError")) is None
        raise Boom
    assert disabled_data(db, GroupingRule, broken) is None
    with db.write() as session:
        assert engine.for_project(session, tenant.project.id).grouping(props("TypeError")) is None
    assert disabled_data(db, GroupingRule, broken)["message"].startswith("Invalid regular expression")


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    migrate.upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


@pytest.mark.postgres
def test_engine_on_postgres(pg_db: Database) -> None:
    tenant = make_tenant(pg_db, email="pg@acme.test")
    with pg_db.write() as session:
        revisions.bump(session, tenant.project.id)
        revisions.bump(session, tenant.project.id)
    with pg_db.read() as session:
        assert revisions.current(session, tenant.project.id) == 2
    _erroring_rule_is_disabled_and_evaluation_continues(pg_db, tenant.project.id, tenant.user.id)
