"""The alerts REST API: PostHog-style shapes, validation at every configured limit's edge, tenant isolation; and the
triggers that go through the outbox (threshold, assigned, reopened), property filters, throttle and the lease."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from faultline.alerts.delivery import Deliverer
from faultline.db import utcnow
from tests.support.ingest import exception_event, ingest
from tests.support.receivers import http_receiver


def _base(seed) -> str:
    return f"/api/environments/{seed.project.id}/error_tracking"


def _alert(url: str = "https://hooks.example.test/x", **extra: Any) -> dict[str, Any]:
    return {
        "name": "oncall",
        "triggers": ["issue_created"],
        "destinations": [{"channel_type": "webhook", "config": {"url": url}}],
        **extra,
    }


def test_crud_shapes_and_the_secret_shown_once(client, seed) -> None:
    base = _base(seed)
    created = client.post(f"{base}/alerts/", headers=seed.headers, json=_alert())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id",
        "name",
        "enabled",
        "triggers",
        "filters",
        "throttle_seconds",
        "threshold",
        "destinations",
        "created_at",
        "updated_at",
    }
    assert body["enabled"] is True and body["filters"] == {"type": "AND", "values": []} and body["threshold"] is None
    [dest] = body["destinations"]
    assert dest["secret"].startswith("whsec_") and dest["failing"] is False

    listed = client.get(f"{base}/alerts/", headers=seed.headers).json()
    assert listed["count"] == 1 and listed["next"] is None
    assert "secret" not in listed["results"][0]["destinations"][0]

    # Keeping a destination by id keeps its secret (none shown again); a new one gets a new secret.
    patched = client.patch(
        f"{base}/alerts/{body['id']}/",
        headers=seed.headers,
        json={
            "name": "renamed",
            "enabled": False,
            "destinations": [
                {"id": dest["id"], "channel_type": "webhook", "config": {"url": "https://hooks.example.test/x"}},
                {"channel_type": "slack", "config": {"url": "https://hooks.slack.com/services/T/B/C"}},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    kept, added = patched.json()["destinations"]
    assert kept["id"] == dest["id"] and "secret" not in kept and "secret" not in added
    assert patched.json()["name"] == "renamed" and patched.json()["enabled"] is False

    assert client.delete(f"{base}/alerts/{body['id']}/", headers=seed.headers).status_code == 204
    missing = client.get(f"{base}/alerts/{body['id']}/", headers=seed.headers)
    assert missing.status_code == 404 and missing.json()["type"] == "invalid_request"


def test_other_projects_cannot_see_an_alert(client, seed, other_tenant) -> None:
    created = client.post(f"{_base(seed)}/alerts/", headers=seed.headers, json=_alert()).json()
    theirs = f"/api/environments/{other_tenant.project.id}/error_tracking/alerts/{created['id']}/"
    assert client.get(theirs, headers=other_tenant.headers).status_code == 404
    mine_via_theirs = f"{_base(seed)}/alerts/{created['id']}/"
    assert client.get(mine_via_theirs, headers=other_tenant.headers).status_code in (403, 404)


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        (_alert("ftp://example.test/x"), "destinations__0__config__url"),
        (_alert("https://h.test/" + "a" * 86), "destinations__0__config__url"),  # 101 characters, limit 100
        (_alert("javascript:alert(1)"), "destinations__0__config__url"),
        ({**_alert(), "destinations": [{"channel_type": "pager", "config": {}}]}, "destinations__0__channel_type"),
        ({**_alert(), "destinations": []}, "destinations"),
        ({**_alert(), "destinations": [_alert()["destinations"][0]] * 3}, "destinations"),  # limit 2
        ({**_alert(), "triggers": ["issue_exploded"]}, "triggers__0"),
        ({**_alert(), "triggers": []}, "triggers"),
        ({**_alert(), "triggers": ["event_threshold"]}, "threshold"),
        ({**_alert(), "triggers": ["event_threshold"], "threshold": {"events": 5, "minutes": 7}}, "threshold__minutes"),
        ({**_alert(), "triggers": ["event_threshold"], "threshold": {"events": 0, "minutes": 5}}, "threshold__events"),
        ({**_alert(), "throttle_seconds": -1}, "throttle_seconds"),
        ({**_alert(), "name": ""}, "name"),
        ({**_alert(), "name": "x" * 401}, "name"),
        ({**_alert(), "filters": {"type": "AND", "values": [{"key": "a", "operator": "regex", "value": "("}]}}, None),
        (
            {**_alert(), "destinations": [{"channel_type": "email", "config": {"recipients": ["a@b.test"]}}]},
            "destinations__0__channel_type",  # no FAULTLINE_SMTP_URL
        ),
        ([1, 2], None),
    ],
)
def test_invalid_alerts_are_refused_in_posthogs_error_shape(client, seed, body, attr) -> None:
    response = client.post(f"{_base(seed)}/alerts/", headers=seed.headers, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "validation_error"
    if attr is not None:
        assert error["attr"] == attr


def test_limits_accept_their_edge(client, seed) -> None:
    base = _base(seed)
    at_limit = "https://h.test/" + "a" * 85  # 100 characters
    two = [{"channel_type": "webhook", "config": {"url": at_limit}}] * 2
    for _ in range(3):  # FAULTLINE_ALERTS_PER_PROJECT=3 in tests/alerts/conftest.py
        assert (
            client.post(f"{base}/alerts/", headers=seed.headers, json={**_alert(), "destinations": two}).status_code
            == 201
        )
    fourth = client.post(f"{base}/alerts/", headers=seed.headers, json=_alert())
    assert fourth.status_code == 400 and "at most 3 alerts" in fourth.json()["detail"]


def test_malformed_json_is_a_400(client, seed) -> None:
    response = client.post(
        f"{_base(seed)}/alerts/", headers={**seed.headers, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "attr"),
    [({"multiplier": 0}, "multiplier"), ({"threshold": "many"}, "threshold"), ({"snooze_duration_minutes": -5}, None)],
)
def test_spike_config_validation(client, seed, body, attr) -> None:
    response = client.patch(f"{_base(seed)}/spike_detection_config/", headers=seed.headers, json=body)
    assert response.status_code == 400
    if attr:
        assert response.json()["attr"] == attr


def _events(exc_type: str, n: int, at: dt.datetime | None = None) -> list[dict]:
    when = (at or utcnow() - dt.timedelta(seconds=5)).isoformat()
    return [exception_event(exc_type, "boom", timestamp=when, distinct_id=f"u{i}") for i in range(n)]


def test_threshold_assigned_reopened_filters_and_throttle(client, seed, db, settings) -> None:
    base = _base(seed)
    with http_receiver() as receiver:

        def alert(path: str, **extra: Any) -> None:
            body = {**_alert(receiver.url + path), **extra}
            assert client.post(f"{base}/alerts/", headers=seed.headers, json=body).status_code == 201

        only_x = {
            "type": "AND",
            "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["XError"]}],
        }
        alert("/threshold", triggers=["event_threshold"], threshold={"events": 5, "minutes": 10}, filters=only_x)
        alert("/lifecycle", triggers=["issue_created", "issue_reopened", "issue_assigned"], throttle_seconds=3600)
        deliverer = Deliverer(db, settings)

        ingest(db, seed.project, _events("XError", 4) + _events("YError", 6))
        deliverer.run_once()
        assert receiver.at("/threshold") == []  # X: 4 < 5; Y: 6 but the filter wants X
        assert sorted(r.json()["issue"]["name"] for r in receiver.at("/lifecycle")) == ["XError", "YError"]

        ingest(db, seed.project, _events("XError", 1))
        deliverer.run_once()
        [crossed] = receiver.at("/threshold")
        assert crossed.json()["trigger"] == "event_threshold"
        assert crossed.json()["counts"]["window_count"] == 5
        ingest(db, seed.project, _events("XError", 3))
        deliverer.run_once()
        assert len(receiver.at("/threshold")) == 1  # one crossing, one notification

        x_issue = crossed.json()["issue"]["id"]
        me = client.get("/api/users/@me/", headers=seed.headers).json()
        assigned = client.patch(
            f"{base}/issues/{x_issue}/assign/",
            headers=seed.headers,
            json={"assignee": {"type": "user", "id": me["id"]}},
        )
        assert assigned.status_code in (200, 204), assigned.text
        deliverer.run_once()
        # Throttled: the issue was announced (created) less than an hour ago.
        assert [r.json()["trigger"] for r in receiver.at("/lifecycle")] == ["issue_created", "issue_created"]

        log = client.get(f"{base}/alerts/", headers=seed.headers).json()["results"]
        lifecycle = next(a for a in log if a["destinations"][0]["config"]["url"].endswith("/lifecycle"))
        deliveries = client.get(f"{base}/alerts/{lifecycle['id']}/deliveries/", headers=seed.headers).json()
        assert deliveries["count"] == 2


def test_assigned_trigger_without_throttle(client, seed, db, settings) -> None:
    base = _base(seed)
    with http_receiver() as receiver:
        body = {**_alert(receiver.url + "/a"), "triggers": ["issue_assigned"]}
        assert client.post(f"{base}/alerts/", headers=seed.headers, json=body).status_code == 201
        ingest(db, seed.project, _events("ZError", 1))
        deliverer = Deliverer(db, settings)
        deliverer.run_once()
        assert receiver.at("/a") == []
        issue = client.get(f"{base}/issues/", headers=seed.headers).json()["results"][0]
        me = client.get("/api/users/@me/", headers=seed.headers).json()
        response = client.patch(
            f"{base}/issues/{issue['id']}/assign/",
            headers=seed.headers,
            json={"assignee": {"type": "user", "id": me["id"]}},
        )
        assert response.status_code in (200, 204), response.text
        deliverer.run_once()
        [sent] = receiver.at("/a")
        assert sent.json()["trigger"] == "issue_assigned"


def test_one_deliverer_at_a_time(client, seed, db, settings) -> None:
    with http_receiver() as receiver:
        client.post(f"{_base(seed)}/alerts/", headers=seed.headers, json=_alert(receiver.url + "/one"))
        ingest(db, seed.project, _events("LeaseError", 1))
        first, second = Deliverer(db, settings), Deliverer(db, settings)
        assert first.run_once() == 1
        ingest(db, seed.project, _events("LeaseError2", 1))
        assert second.run_once() == 0  # the first holds the lease
        assert len(receiver.at("/one")) == 1
        first.stop()  # releases it
        assert second.run_once() == 1
        assert len(receiver.at("/one")) == 2
