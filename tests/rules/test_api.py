"""REST contract of suppression, grouping and assignment rules and reorder (spec §2.6–§2.9): status codes,
PostHog's validation messages and `attr`s, scopes and tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultline.accounts import service as accounts
from faultline.app import create_app
from faultline.db import Database
from faultline.issues.models import Issue, IssueFingerprint
from faultline.rules.models import SuppressionRule
from tests.conftest import Tenant, make_settings, make_tenant

TYPE_ERROR = {
    "type": "AND",
    "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Tenant]]:
    """One app for the validation tables: they only ever answer 400, so they cannot disturb each other."""
    app = create_app(make_settings(tmp_path_factory.mktemp("rules-api") / "data"))
    with TestClient(app) as test_client:
        yield test_client, make_tenant(app.state.db, email="validation@acme.test")


def base(tenant: Tenant, prefix: str = "environments") -> str:
    return f"/api/{prefix}/{tenant.project.id}/error_tracking"


def error(response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"type", "code", "detail", "attr"}, body
    return body


def expect_400(response, detail: str, attr: str | None, code: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = error(response)
    assert (body["detail"], body["attr"]) == (detail, attr)
    if code:
        assert body["code"] == code


# ------------------------------------------------------------------------------------------------- suppression


def test_suppression_create_defaults_and_shape(client: TestClient, seed: Tenant) -> None:
    response = client.post(
        f"{base(seed)}/suppression_rules/", headers=seed.headers, json={"order_key": 9, "disabled_data": {"x": 1}}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "filters", "order_key", "disabled_data", "sampling_rate", "created_at", "updated_at"}
    assert body["filters"] == {"type": "AND", "values": []}
    assert (body["order_key"], body["disabled_data"], body["sampling_rate"]) == (0, None, 1.0)
    assert body["created_at"].endswith("Z")
    # No body at all is a match-all rule too; "values": [] without a type is accepted and normalised.
    assert client.post(f"{base(seed)}/suppression_rules", headers=seed.headers).status_code == 201
    created = client.post(f"{base(seed)}/suppression_rules/", headers=seed.headers, json={"filters": {"values": []}})
    assert created.status_code == 201 and created.json()["filters"] == {"type": "AND", "values": []}


@pytest.mark.parametrize(
    ("payload", "detail", "attr", "code"),
    [
        ({"filters": []}, "Expected an object.", "filters", "invalid_input"),
        ({"filters": "x"}, "Expected an object.", "filters", "invalid_input"),
        ({"filters": None}, "This field may not be null.", "filters", "null"),
        ({"filters": {"type": "AND"}}, "Invalid filters", "filters", "invalid_input"),
        (
            {"filters": {"type": "AND", "values": [{"key": "a", "operator": "nope", "value": "x"}]}},
            "Invalid filters payload.",
            "filters",
            None,
        ),
        (
            {"filters": {"type": "XOR", "values": [{"key": "a", "value": "x"}]}},
            "Invalid filters payload.",
            "filters",
            None,
        ),
        ({"filters": {"type": "AND", "values": ["junk"]}}, "Invalid filters payload.", "filters", None),
        ({"filters": {"type": "AND", "values": "junk"}}, "Invalid filters payload.", "filters", None),
        ({"sampling_rate": -0.1}, "Ensure this value is greater than or equal to 0.0.", "sampling_rate", "min_value"),
        ({"sampling_rate": 1.5}, "Ensure this value is less than or equal to 1.0.", "sampling_rate", "max_value"),
        ({"sampling_rate": "half"}, "A valid number is required.", "sampling_rate", "invalid_input"),
        ({"sampling_rate": None}, "This field may not be null.", "sampling_rate", "null"),
        (
            {"filters": {"type": "AND", "values": [{"key": "$exception_values", "operator": "regex", "value": "(x"}]}},
            "Invalid regular expression '(x': missing ): (x",
            None,
            None,
        ),
    ],
)
def test_suppression_create_validation(
    shared: tuple[TestClient, Tenant], payload: dict, detail: str, attr: str | None, code: str | None
) -> None:
    client, seed = shared
    expect_400(client.post(f"{base(seed)}/suppression_rules/", headers=seed.headers, json=payload), detail, attr, code)


def test_suppression_body_must_be_json_object(client: TestClient, seed: Tenant) -> None:
    response = client.post(
        f"{base(seed)}/suppression_rules/",
        headers={**seed.headers, "Content-Type": "application/json"},
        content=b"{nope",
    )
    assert response.status_code == 400 and error(response)["code"] == "parse_error"
    response = client.post(f"{base(seed)}/suppression_rules/", headers=seed.headers, json=[1, 2])
    assert response.status_code == 400


def test_suppression_list_retrieve_update_delete(client: TestClient, db: Database, seed: Tenant) -> None:
    url = f"{base(seed)}/suppression_rules/"
    ids = [
        client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR, "sampling_rate": r}).json()["id"]
        for r in (0.1, 0.2, 0.3)
    ]
    client.patch(f"{url}reorder/", headers=seed.headers, json={"orders": {ids[0]: 3, ids[1]: 1, ids[2]: 2}})
    page = client.get(url, headers=seed.headers, params={"limit": 2}).json()
    assert page["count"] == 3 and [r["id"] for r in page["results"]] == [ids[1], ids[2]]
    assert "offset=2" in page["next"] and page["previous"] is None
    assert client.get(page["next"], headers=seed.headers).json()["results"][0]["id"] == ids[0]

    assert client.get(f"{url}{ids[0]}/", headers=seed.headers).json()["sampling_rate"] == 0.1
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        assert client.get(f"{url}{missing}/", headers=seed.headers).status_code == 404

    with db.write() as session:  # as if the worker had disabled it
        session.execute(
            sa.update(SuppressionRule)
            .where(SuppressionRule.id == uuid.UUID(ids[0]))
            .values(disabled_data={"message": "boom", "props": {}})
        )
    assert client.get(f"{url}{ids[0]}/", headers=seed.headers).json()["disabled_data"]["message"] == "boom"
    response = client.patch(f"{url}{ids[0]}/", headers=seed.headers, json={"sampling_rate": 0.75, "order_key": 99})
    assert response.status_code == 204 and response.content == b""
    after = client.get(f"{url}{ids[0]}/", headers=seed.headers).json()
    assert (after["sampling_rate"], after["disabled_data"], after["order_key"]) == (0.75, None, 3)
    assert after["updated_at"] > after["created_at"]
    response = client.put(f"{url}{ids[0]}/", headers=seed.headers, json={"filters": {"type": "OR", "values": []}})
    assert response.status_code == 204
    assert client.get(f"{url}{ids[0]}/", headers=seed.headers).json()["filters"] == {"type": "OR", "values": []}
    expect_400(
        client.patch(f"{url}{ids[0]}/", headers=seed.headers, json={"sampling_rate": 2}),
        "Ensure this value is less than or equal to 1.0.",
        "sampling_rate",
    )
    assert client.patch(f"{url}{uuid.uuid4()}/", headers=seed.headers, json={}).status_code == 404

    assert client.delete(f"{url}{ids[0]}/", headers=seed.headers).status_code == 204
    assert client.delete(f"{url}{ids[0]}/", headers=seed.headers).status_code == 404
    assert client.get(url, headers=seed.headers).json()["count"] == 2


# ------------------------------------------------------------------------------------------------- reorder


@pytest.mark.parametrize("kind", ["suppression_rules", "grouping_rules", "assignment_rules"])
def test_reorder(client: TestClient, seed: Tenant, other_tenant: Tenant, kind: str) -> None:
    payload = {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": seed.user.id}}
    other_payload = {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": other_tenant.user.id}}
    mine = [client.post(f"{base(seed)}/{kind}/", headers=seed.headers, json=payload).json()["id"] for _ in range(3)]
    theirs = client.post(f"{base(other_tenant)}/{kind}/", headers=other_tenant.headers, json=other_payload).json()["id"]

    orders = {mine[0]: 30, mine[2]: -5, theirs: 1, str(uuid.uuid4()): 7, "not-a-uuid": 1}
    response = client.patch(f"{base(seed)}/{kind}/reorder/", headers=seed.headers, json={"orders": orders})
    assert response.status_code == 204 and response.content == b""

    def keys(tenant: Tenant) -> dict[str, int]:
        listing = client.get(f"{base(tenant)}/{kind}/", headers=tenant.headers).json()
        return {r["id"]: r["order_key"] for r in listing["results"]}

    assert keys(seed) == {mine[0]: 30, mine[1]: 0, mine[2]: -5}
    assert list(keys(seed)) == [mine[2], mine[1], mine[0]]  # lists are ordered by order_key
    assert keys(other_tenant) == {theirs: 0}  # foreign ids are silently ignored

    expect_400(
        client.patch(f"{base(seed)}/{kind}/reorder/", headers=seed.headers, json={"orders": {mine[0]: "first"}}),
        "A valid integer is required.",
        f"orders__{mine[0]}",
    )
    expect_400(
        client.patch(f"{base(seed)}/{kind}/reorder/", headers=seed.headers, json={"orders": [1]}),
        'Expected a dictionary of items but got type "list".',
        "orders",
        "not_a_dict",
    )
    expect_400(
        client.patch(f"{base(seed)}/{kind}/reorder/", headers=seed.headers, json={"orders": {mine[0]: 2**31}}),
        "Ensure this value is less than or equal to 2147483647.",
        f"orders__{mine[0]}",
    )
    assert client.patch(f"{base(seed)}/{kind}/reorder", headers=seed.headers).status_code == 204
    for empty in ({}, {"orders": None}, {"orders": {}}):
        assert client.patch(f"{base(seed)}/{kind}/reorder/", headers=seed.headers, json=empty).status_code == 204


# ------------------------------------------------------------------------------------------------- grouping


def test_grouping_list_is_unpaginated_with_the_owning_issue(client: TestClient, db: Database, seed: Tenant) -> None:
    url = f"{base(seed)}/grouping_rules/"
    response = client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR, "description": "all type errors"})
    assert response.status_code == 201
    rule = response.json()
    assert set(rule) == {
        "id",
        "filters",
        "assignee",
        "description",
        "issue",
        "order_key",
        "disabled_data",
        "created_at",
        "updated_at",
    }
    assert (rule["assignee"], rule["description"], rule["issue"]) == (None, "all type errors", None)
    second = client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR}).json()

    with db.write() as session:
        issue = Issue(project_id=seed.project.id, name="TypeError: grouped", status="active")
        session.add(issue)
        session.flush()
        session.add(
            IssueFingerprint(project_id=seed.project.id, issue_id=issue.id, fingerprint=f"custom-rule:{rule['id']}")
        )
        issue_id = str(issue.id)
    listing = client.get(url, headers=seed.headers, params={"limit": 1})
    assert set(listing.json()) == {"results"}
    results = {r["id"]: r for r in listing.json()["results"]}
    assert len(results) == 2
    assert results[rule["id"]]["issue"] == {"id": issue_id, "name": "TypeError: grouped"}
    assert results[second["id"]]["issue"] is None
    assert client.get(f"{url}{rule['id']}/", headers=seed.headers).json()["issue"]["id"] == issue_id


@pytest.mark.parametrize(
    ("payload", "detail", "attr"),
    [
        ({}, "This field is required.", "filters"),
        ({"filters": None}, "This field may not be null.", "filters"),
        ({"filters": [1]}, "Expected a JSON object.", "filters"),
        ({"filters": {"type": "AND", "values": []}}, "Filters must contain at least one filter value.", "filters"),
        (
            {"filters": {"type": "AND", "values": [{"type": "AND", "values": []}]}},
            "Filters must contain at least one filter value.",
            "filters",
        ),
        ({"filters": {"type": "AND"}}, "Invalid filters payload.", "filters"),
        (
            {"filters": {"type": "AND", "values": [{"key": "x", "value": {"a": 1}}]}},
            "Invalid filters payload.",
            "filters",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "group", "id": 1}},
            '"group" is not a valid choice.',
            "assignee__type",
        ),
        ({"filters": TYPE_ERROR, "assignee": {"id": 1}}, "This field is required.", "assignee__type"),
        ({"filters": TYPE_ERROR, "assignee": {"type": "user"}}, "This field is required.", "assignee__id"),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": True}},
            "Expected an integer user ID or UUID role ID.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": 1.5}},
            "Expected an integer user ID or UUID role ID.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": "abc"}},
            "Expected an integer user ID or UUID role ID.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": str(uuid.uuid4())}},
            "User assignee IDs must be integers.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "role", "id": 12}},
            "Role assignee IDs must be UUIDs.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "role", "id": "12"}},
            "Role assignee IDs must be UUIDs.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": 999999}},
            "Assignee user does not belong to this organization.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "role", "id": str(uuid.uuid4())}},
            "Assignee role does not belong to this organization.",
            "assignee__id",
        ),
        ({"filters": TYPE_ERROR, "description": ["x"]}, "Not a valid string.", "description"),
    ],
)
def test_grouping_create_validation(shared: tuple[TestClient, Tenant], payload: dict, detail: str, attr: str) -> None:
    client, seed = shared
    expect_400(client.post(f"{base(seed)}/grouping_rules/", headers=seed.headers, json=payload), detail, attr)


def test_grouping_assignees_and_update(client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant) -> None:
    url = f"{base(seed)}/grouping_rules/"
    with db.write() as session:
        role = accounts.create_role(session, seed.organization, "Backend")
        foreign_role = accounts.create_role(session, other_tenant.organization, "Theirs")
    by_string = client.post(
        url, headers=seed.headers, json={"filters": TYPE_ERROR, "assignee": {"type": "user", "id": str(seed.user.id)}}
    )
    assert by_string.status_code == 201 and by_string.json()["assignee"] == {"type": "user", "id": seed.user.id}
    by_role = client.post(
        url, headers=seed.headers, json={"filters": TYPE_ERROR, "assignee": {"type": "role", "id": str(role.id)}}
    )
    assert by_role.json()["assignee"] == {"type": "role", "id": str(role.id)}
    expect_400(
        client.post(
            url,
            headers=seed.headers,
            json={"filters": TYPE_ERROR, "assignee": {"type": "user", "id": other_tenant.user.id}},
        ),
        "Assignee user does not belong to this organization.",
        "assignee__id",
    )
    expect_400(
        client.post(
            url,
            headers=seed.headers,
            json={"filters": TYPE_ERROR, "assignee": {"type": "role", "id": str(foreign_role.id)}},
        ),
        "Assignee role does not belong to this organization.",
        "assignee__id",
    )

    rule_id = by_role.json()["id"]
    new_filters = {"type": "OR", "values": [{"key": "$lib", "type": "event", "operator": "exact", "value": "web"}]}
    # Only filters are editable; description and assignee in the body are ignored.
    response = client.patch(
        f"{url}{rule_id}/", headers=seed.headers, json={"filters": new_filters, "description": "x", "assignee": None}
    )
    assert response.status_code == 204
    after = client.get(f"{url}{rule_id}/", headers=seed.headers).json()
    assert (after["filters"], after["description"], after["assignee"]["type"]) == (new_filters, None, "role")
    assert client.put(f"{url}{rule_id}/", headers=seed.headers, json={"filters": None}).status_code == 204
    assert client.get(f"{url}{rule_id}/", headers=seed.headers).json()["filters"] == new_filters
    expect_400(
        client.patch(f"{url}{rule_id}/", headers=seed.headers, json={"filters": {"type": "AND", "values": []}}),
        "Filters must contain at least one filter value.",
        "filters",
    )
    assert client.delete(f"{url}{rule_id}/", headers=seed.headers).status_code == 204


# ------------------------------------------------------------------------------------------------- assignment


@pytest.mark.parametrize(
    ("payload", "detail", "attr"),
    [
        ({"assignee": {"type": "user", "id": 1}}, "This field is required.", "filters"),
        ({"filters": TYPE_ERROR}, "This field is required.", "assignee"),
        ({"filters": TYPE_ERROR, "assignee": None}, "This field may not be null.", "assignee"),
        ({"filters": "x", "assignee": {"type": "user", "id": 1}}, "Expected a JSON object.", "filters"),
        ({"filters": {"values": []}, "assignee": {"type": "user", "id": 1}}, "Invalid filters payload.", "filters"),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "team", "id": 1}},
            '"team" is not a valid choice.',
            "assignee__type",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "role", "id": 5}},
            "Role assignee IDs must be UUIDs.",
            "assignee__id",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": 1}, "order_key": "first"},
            "A valid integer is required.",
            "order_key",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": 1}, "order_key": 2.5},
            "A valid integer is required.",
            "order_key",
        ),
        (
            {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": 1}, "order_key": -(2**31) - 1},
            "Ensure this value is greater than or equal to -2147483648.",
            "order_key",
        ),
    ],
)
def test_assignment_create_validation(shared: tuple[TestClient, Tenant], payload: dict, detail: str, attr: str) -> None:
    client, seed = shared
    expect_400(client.post(f"{base(seed)}/assignment_rules/", headers=seed.headers, json=payload), detail, attr)


def test_assignment_crud(client: TestClient, db: Database, seed: Tenant) -> None:
    url = f"{base(seed)}/assignment_rules/"
    with db.write() as session:
        role = accounts.create_role(session, seed.organization, "On call")
    response = client.post(
        url,
        headers=seed.headers,
        json={
            "filters": {"type": "AND", "values": []},
            "assignee": {"type": "user", "id": seed.user.id},
            "order_key": "7",
        },
    )
    assert response.status_code == 201
    rule = response.json()
    assert set(rule) == {"id", "filters", "assignee", "order_key", "disabled_data", "created_at", "updated_at"}
    assert (rule["order_key"], rule["assignee"]) == (7, {"type": "user", "id": seed.user.id})
    page = client.get(url, headers=seed.headers).json()
    assert page["count"] == 1 and page["results"][0]["id"] == rule["id"]

    assert (
        client.patch(
            f"{url}{rule['id']}/", headers=seed.headers, json={"assignee": {"type": "role", "id": str(role.id)}}
        ).status_code
        == 204
    )
    after = client.get(f"{url}{rule['id']}/", headers=seed.headers).json()
    assert after["assignee"] == {"type": "role", "id": str(role.id)} and after["filters"] == {
        "type": "AND",
        "values": [],
    }
    assert (
        client.put(
            f"{url}{rule['id']}/", headers=seed.headers, json={"filters": TYPE_ERROR, "assignee": None}
        ).status_code
        == 204
    )
    after = client.get(f"{url}{rule['id']}/", headers=seed.headers).json()
    assert after["filters"] == TYPE_ERROR and after["assignee"]["type"] == "role"
    expect_400(
        client.patch(f"{url}{rule['id']}/", headers=seed.headers, json={"assignee": {"type": "user", "id": 424242}}),
        "Assignee user does not belong to this organization.",
        "assignee__id",
    )
    assert client.delete(f"{url}{rule['id']}/", headers=seed.headers).status_code == 204
    assert client.get(f"{url}{rule['id']}/", headers=seed.headers).status_code == 404


# ------------------------------------------------------------------------------------------------- scopes, tenancy


@pytest.mark.parametrize("kind", ["suppression_rules", "grouping_rules", "assignment_rules"])
def test_scopes_and_tenancy(client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant, kind: str) -> None:
    payload = {"filters": TYPE_ERROR, "assignee": {"type": "user", "id": seed.user.id}}
    rule_id = client.post(f"{base(seed)}/{kind}/", headers=seed.headers, json=payload).json()["id"]
    reader = make_tenant(db, email=f"reader-{kind}@acme.test", scopes=["error_tracking:read"])
    with db.write() as session:
        accounts.add_member(session, seed.organization, session.merge(reader.user))
    stranger = make_tenant(db, email=f"nobody-{kind}@acme.test", scopes=["project:read"])
    with db.write() as session:
        accounts.add_member(session, seed.organization, session.merge(stranger.user))

    assert client.get(f"{base(seed)}/{kind}/", headers=reader.headers).status_code == 200
    assert client.get(f"{base(seed)}/{kind}/{rule_id}/", headers=reader.headers).status_code == 200
    for method, path in (
        ("post", ""),
        ("patch", f"{rule_id}/"),
        ("put", f"{rule_id}/"),
        ("delete", f"{rule_id}/"),
        ("patch", "reorder/"),
    ):
        response = client.request(method.upper(), f"{base(seed)}/{kind}/{path}", headers=reader.headers, json={})
        assert response.status_code == 403, (method, path)
        assert error(response)["detail"] == "API key missing required scope 'error_tracking:write'"
    assert client.get(f"{base(seed)}/{kind}/", headers=stranger.headers).status_code == 403
    assert client.get(f"{base(seed)}/{kind}/").status_code == 401

    # Another organization: the project is a 404, and so is our rule id under their project.
    assert client.get(f"{base(seed)}/{kind}/", headers=other_tenant.headers).status_code == 404
    assert client.get(f"{base(other_tenant)}/{kind}/{rule_id}/", headers=other_tenant.headers).status_code == 404
    assert client.delete(f"{base(other_tenant)}/{kind}/{rule_id}/", headers=other_tenant.headers).status_code == 404
    assert (
        client.patch(f"{base(other_tenant)}/{kind}/{rule_id}/", headers=other_tenant.headers, json={}).status_code
        == 404
    )
    # The legacy /api/projects/ prefix serves the same resources.
    assert client.get(f"{base(seed, 'projects')}/{kind}/{rule_id}", headers=seed.headers).status_code == 200


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "filters": _json
        | st.fixed_dictionaries({"type": st.sampled_from(["AND", "OR", "x"]), "values": st.lists(_json, max_size=3)}),
        "sampling_rate": _json,
        "assignee": _json | st.fixed_dictionaries({"type": st.sampled_from(["user", "role", 3]), "id": _json}),
        "order_key": _json,
        "description": _json,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(kind=st.sampled_from(["suppression_rules", "grouping_rules", "assignment_rules"]), body=_bodies)
def test_hostile_bodies_never_500(client: TestClient, seed: Tenant, kind: str, body: dict) -> None:
    response = client.post(f"{base(seed)}/{kind}/", headers=seed.headers, json=body)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        error(response)
