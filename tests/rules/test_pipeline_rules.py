"""Rules inside real digest-pipeline runs (spec §5.5–§5.9): events go through the same pipeline the worker runs,
with the rules provider the worker is built with."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.issues.models import Event, Issue, IssueAssignment
from faultline.rules import revisions
from faultline.rules.engine import RulesEngine
from faultline.rules.models import GroupingRule, SuppressionRule
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest


def api(tenant: Tenant) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking"


def leaf(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"type": "AND", "values": [{"key": key, "type": "event", "operator": operator, "value": value}]}


@pytest.fixture
def engine(app) -> RulesEngine:
    provider = app.state.runtime.pipeline().rules
    assert isinstance(provider, RulesEngine)  # the worker is built with the rules engine
    assert provider is app.state.runtime.rules  # the app's one engine
    return provider


def assignee_of(db: Database, issue_id: uuid.UUID) -> tuple[int | None, uuid.UUID | None] | None:
    with db.read() as session:
        row = session.execute(
            sa.select(IssueAssignment.user_id, IssueAssignment.role_id).where(IssueAssignment.issue_id == issue_id)
        ).first()
    return (row[0], row[1]) if row else None


def test_grouping_rule_merges_different_exceptions_and_assigns(
    client: TestClient, db: Database, seed: Tenant, engine: RulesEngine
) -> None:
    first = exception_event("TypeError", "checkout failed: cart is undefined")
    second = exception_event("KeyError", "checkout failed: 'sku'")
    without_rule = ingest(db, seed.project, [first, second], rules=engine)
    assert without_rule[0].issue_id != without_rule[1].issue_id  # different exceptions, different issues

    filters = leaf("$exception_values", "icontains", "checkout failed")
    rule = client.post(
        f"{api(seed)}/grouping_rules/",
        headers=seed.headers,
        json={"filters": filters, "assignee": {"type": "user", "id": seed.user.id}},
    ).json()
    third = exception_event("TypeError", "checkout failed: price is NaN")
    fourth = exception_event("RangeError", "checkout failed: quantity -1")
    unrelated = exception_event("TypeError", "login failed")
    outcomes = ingest(db, seed.project, [third, fourth, unrelated], rules=engine)
    assert outcomes[0].issue_id == outcomes[1].issue_id != outcomes[2].issue_id
    assert outcomes[0].fingerprint == outcomes[1].fingerprint == f"custom-rule:{rule['id']}"
    assert outcomes[2].fingerprint != outcomes[0].fingerprint
    assert assignee_of(db, outcomes[0].issue_id) == (seed.user.id, None)
    assert assignee_of(db, outcomes[2].issue_id) is None
    with db.read() as session:
        props = session.execute(sa.select(Event.properties).where(Event.uuid == uuid.UUID(third["uuid"]))).scalar_one()
    assert props["$exception_fingerprint_record"] == [{"type": "custom", "rule_id": rule["id"]}]
    listed = client.get(f"{api(seed)}/grouping_rules/", headers=seed.headers).json()["results"]
    assert listed[0]["issue"]["id"] == str(outcomes[0].issue_id)
    # The automatic assignment is in the issue's history, said to be the rule's (the system's) doing.
    entries = client.get(f"{api(seed)}/issues/{outcomes[0].issue_id}/activity/", headers=seed.headers).json()
    [assigned] = [e for e in entries["results"] if e["activity"] == "assigned"]
    assert assigned["user"]["is_system"] is True
    assert assigned["detail"]["trigger"] == {"type": "grouping_rule", "rule_id": rule["id"]}
    assert assigned["detail"]["changes"][0]["after"] == {"type": "user", "id": seed.user.id}
    unassigned = client.get(f"{api(seed)}/issues/{outcomes[2].issue_id}/activity/", headers=seed.headers).json()
    assert [e for e in unassigned["results"] if e["activity"] == "assigned"] == []


def test_suppression_sampling_drops_exactly_the_low_buckets(
    client: TestClient, db: Database, seed: Tenant, engine: RulesEngine
) -> None:
    filters = leaf("$exception_types", "exact", ["TimeoutError"])
    response = client.post(
        f"{api(seed)}/suppression_rules/", headers=seed.headers, json={"filters": filters, "sampling_rate": 0.5}
    )
    rule_id = response.json()["id"]
    events = [exception_event("TimeoutError", f"slow {i}") for i in range(120)]
    # Make sure both sides of the boundary are represented.
    events[0]["uuid"] = str(uuid.UUID(int=(7 << 64) * 10_000 + 4999))
    events[1]["uuid"] = str(uuid.UUID(int=(7 << 64) * 10_000 + 5000))
    others = [exception_event("ValueError", f"other {i}") for i in range(20)]
    outcomes = ingest(db, seed.project, events + others, rules=engine)

    expected = {e["uuid"] for e in events if uuid.UUID(e["uuid"]).int % 10_000 < 5000}
    suppressed = {str(o.uuid) for o in outcomes if o.status == "suppressed"}
    assert suppressed == expected
    assert events[0]["uuid"] in suppressed and events[1]["uuid"] not in suppressed
    assert all(o.reason == f"Suppressed by rule: {rule_id}" for o in outcomes if o.status == "suppressed")
    assert all(o.status == "stored" for o in outcomes[len(events) :])
    with db.read() as session:
        stored = set(session.execute(sa.select(Event.uuid).where(Event.project_id == seed.project.id)).scalars())
    assert not {uuid.UUID(u) for u in suppressed} & stored
    # Deterministic: the same events again get the same verdicts (here: duplicates or suppressed again).
    again = ingest(db, seed.project, events, rules=engine)
    assert {str(o.uuid) for o in again if o.status == "suppressed"} == expected


def test_assignment_rule_assigns_new_and_reopened_issues_but_never_overrides(
    client: TestClient, db: Database, seed: Tenant, engine: RulesEngine
) -> None:
    with db.write() as session:
        teammate = accounts.create_user(session, "teammate@acme.test", organization=seed.organization)
        teammate_id = teammate.id
    before = ingest(
        db, seed.project, [exception_event("OSError", "disk full"), exception_event("IOError", "pipe")], rules=engine
    )
    owned, unowned = before[0].issue_id, before[1].issue_id
    with db.write() as session:
        session.add(IssueAssignment(issue_id=owned, project_id=seed.project.id, user_id=teammate_id))
        session.execute(sa.update(Issue).where(Issue.id.in_([owned, unowned])).values(status="resolved"))

    response = client.post(
        f"{api(seed)}/assignment_rules/",
        headers=seed.headers,
        json={"filters": {"type": "AND", "values": []}, "assignee": {"type": "user", "id": seed.user.id}},
    )
    assert response.status_code == 201
    after = ingest(
        db,
        seed.project,
        [
            exception_event("OSError", "disk full"),
            exception_event("IOError", "pipe"),
            exception_event("MemoryError", "oom"),
        ],
        rules=engine,
    )
    assert [o.issue_id for o in after[:2]] == [owned, unowned]  # reopened
    assert assignee_of(db, owned) == (teammate_id, None)  # existing assignment kept
    assert assignee_of(db, unowned) == (seed.user.id, None)  # reopened without owner: assigned
    assert assignee_of(db, after[2].issue_id) == (seed.user.id, None)  # new issue: assigned

    # An issue that is neither new nor reopened is left alone even if unassigned.
    with db.write() as session:
        session.execute(sa.delete(IssueAssignment).where(IssueAssignment.issue_id == unowned))
    ingest(db, seed.project, [exception_event("IOError", "pipe")], rules=engine)
    assert assignee_of(db, unowned) is None


def test_erroring_rules_are_disabled_and_the_event_still_processes(
    client: TestClient, db: Database, seed: Tenant, engine: RulesEngine
) -> None:
    broken = leaf("$exception_values", "regex", "(unclosed")  # stored without API validation (e.g. imported)
    with db.write() as session:
        grouping = GroupingRule(project_id=seed.project.id, filters=broken, order_key=0)
        suppression = SuppressionRule(project_id=seed.project.id, filters=broken, order_key=0, sampling_rate=1.0)
        session.add_all([grouping, suppression])
        session.flush()
        revisions.bump(session, seed.project.id)
        ids = (grouping.id, suppression.id)
    event = exception_event("TypeError", "still counted")
    outcome = ingest(db, seed.project, [event], rules=engine)[0]
    assert outcome.status == "stored" and outcome.issue_id is not None
    assert not outcome.fingerprint.startswith("custom-rule:")
    for kind in ("grouping_rules", "suppression_rules"):
        rule_id = str(ids[0] if kind == "grouping_rules" else ids[1])
        data = client.get(f"{api(seed)}/{kind}/{rule_id}/", headers=seed.headers).json()["disabled_data"]
        assert data["message"].startswith("Invalid regular expression")
        assert data["props"]["$exception_types"] == ["TypeError"]
    # Disabled rules are out of the next batches: the same exception is processed the same way again.
    second = ingest(db, seed.project, [exception_event("TypeError", "still counted")], rules=engine)[0]
    assert second.status == "stored" and second.issue_id == outcome.issue_id
