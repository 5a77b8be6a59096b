"""Bypass and severity rules over the REST API: PostHog-style CRUD (updates answer 204), `reorder/`, validation in
PostHog's error shape, tenant isolation — and severity as an issue-list filter and sort."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from faultline.db import Database
from faultline.rules.engine import RulesEngine
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest

TYPE_ERROR = {
    "type": "AND",
    "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
}


def base(tenant: Tenant) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking"


@pytest.mark.parametrize(("kind", "extra"), [("bypass_rules", {}), ("severity_rules", {"severity": "high"})])
def test_crud_and_reorder(client: TestClient, seed: Tenant, other_tenant: Tenant, kind: str, extra: dict) -> None:
    url = f"{base(seed)}/{kind}/"
    created = [client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR, **extra}) for _ in range(3)]
    assert [r.status_code for r in created] == [201] * 3
    body = created[0].json()
    assert set(body) >= {"id", "filters", "order_key", "disabled_data", "created_at", "updated_at"}
    assert body["filters"] == TYPE_ERROR and body["order_key"] == 0
    if extra:
        assert body["severity"] == "high"
    ids = [r.json()["id"] for r in created]
    theirs = client.post(
        f"{base(other_tenant)}/{kind}/", headers=other_tenant.headers, json={"filters": TYPE_ERROR, **extra}
    )

    reordered = client.patch(
        f"{url}reorder/", headers=seed.headers, json={"orders": {ids[0]: 9, ids[2]: -1, theirs.json()["id"]: 5}}
    )
    assert reordered.status_code == 204 and reordered.content == b""
    listing = client.get(url, headers=seed.headers).json()
    assert listing["count"] == 3 and [r["id"] for r in listing["results"]] == [ids[2], ids[1], ids[0]]
    assert (
        client.get(f"{base(other_tenant)}/{kind}/", headers=other_tenant.headers).json()["results"][0]["order_key"] == 0
    )

    change = {"filters": {"type": "OR", "values": []}, **({"severity": "critical"} if extra else {})}
    assert client.patch(f"{url}{ids[1]}/", headers=seed.headers, json=change).status_code == 204
    got = client.get(f"{url}{ids[1]}/", headers=seed.headers).json()
    assert got["filters"] == {"type": "OR", "values": []}
    if extra:
        assert got["severity"] == "critical"
    assert client.get(f"{url}{theirs.json()['id']}/", headers=seed.headers).status_code == 404
    assert client.delete(f"{url}{ids[1]}/", headers=seed.headers).status_code == 204
    assert client.delete(f"{url}{ids[1]}/", headers=seed.headers).status_code == 404
    assert client.get(f"{url}{uuid.uuid4()}/", headers=seed.headers).status_code == 404


def test_validation_errors_use_posthogs_shape(client: TestClient, seed: Tenant) -> None:
    url = f"{base(seed)}/severity_rules/"
    bad = client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR, "severity": "apocalyptic"})
    assert bad.status_code == 400
    assert bad.json() == {
        "type": "validation_error",
        "code": "invalid_choice",
        "detail": '"apocalyptic" is not a valid choice.',
        "attr": "severity",
    }
    missing = client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR})
    assert missing.status_code == 400 and missing.json()["attr"] == "severity"
    not_object = client.post(f"{base(seed)}/bypass_rules/", headers=seed.headers, json={"filters": [1]})
    assert not_object.status_code == 400 and not_object.json()["attr"] == "filters"


def test_severity_filter_and_sort_on_the_issue_list(client: TestClient, db: Database, seed: Tenant) -> None:
    url = f"{base(seed)}/severity_rules/"
    for exc_type, severity in (("PaymentError", "critical"), ("SlowError", "low"), ("DiskError", "high")):
        rule = {
            "type": "AND",
            "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": [exc_type]}],
        }
        assert client.post(url, headers=seed.headers, json={"filters": rule, "severity": severity}).status_code == 201
    names = ["SlowError", "PaymentError", "NoRuleError", "DiskError"]
    ingest(db, seed.project, [exception_event(name, f"{name} happened") for name in names], rules=RulesEngine())

    issues = f"{base(seed)}/issues/"
    by_severity = client.get(issues, headers=seed.headers, params={"order_by": "severity"}).json()["results"]
    assert [(i["name"], i["severity"]) for i in by_severity] == [
        ("PaymentError", "critical"),
        ("DiskError", "high"),
        ("SlowError", "low"),
        ("NoRuleError", None),
    ]
    filtered = client.get(issues, headers=seed.headers, params={"severity": "critical,high"}).json()["results"]
    assert sorted(i["name"] for i in filtered) == ["DiskError", "PaymentError"]
