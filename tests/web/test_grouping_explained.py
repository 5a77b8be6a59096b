""" "Why these events are grouped" names the grouping rule by its description (or its conditions), not its UUID."""

from __future__ import annotations

from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest


def _rule(client: TestClient, seed: Tenant, **extra: object) -> dict:
    filters = {
        "type": "AND",
        "values": [{"key": "$exception_values", "type": "event", "operator": "icontains", "value": "checkout"}],
    }
    response = client.post(
        f"/api/environments/{seed.project.id}/error_tracking/grouping_rules/",
        headers=seed.headers,
        json={"filters": filters, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_rule_is_named_by_its_description(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    rule = _rule(logged_in, seed, description="Checkout failures, whatever the stack")
    [outcome] = ingest(
        db, seed.project, [exception_event("TypeError", "checkout failed")], rules=logged_in.app.state.runtime.rules
    )
    page = logged_in.get(f"/project/{seed.project.id}/issues/{outcome.issue_id}").text
    assert "<strong>Grouped by</strong> grouping rule “Checkout failures, whatever the stack”" in page
    assert f'#rule-{rule["id"]}">open rule</a>' in page
    assert f"grouping rule {rule['id']}" not in page


def test_a_rule_without_description_is_named_by_its_conditions(
    logged_in: TestClient, seed: Tenant, db: Database
) -> None:
    _rule(logged_in, seed)
    [outcome] = ingest(
        db, seed.project, [exception_event("KeyError", "checkout: sku")], rules=logged_in.app.state.runtime.rules
    )
    page = logged_in.get(f"/project/{seed.project.id}/issues/{outcome.issue_id}").text
    assert "<strong>Grouped by</strong> grouping rule “$exception_values contains checkout”" in page
