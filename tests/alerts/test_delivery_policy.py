"""Sending policy: internal addresses refused unless allowed, reopen notifications, the UI form's errors, and the
SMTP URL's validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from faultline.alerts.delivery import Deliverer, send_test
from faultline.app import create_app
from faultline.config import ConfigError, load_settings
from faultline.db import utcnow
from faultline.runtime import Runtime
from tests.conftest import make_settings, make_tenant
from tests.support.ingest import exception_event, ingest
from tests.support.receivers import http_receiver
from tests.web.conftest import csrf_from, login


def test_internal_addresses_are_refused_by_default(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = make_settings(tmp_path / "data")  # FAULTLINE_ALERT_ALLOW_INTERNAL_URLS defaults to false
    runtime = Runtime.for_server(settings)
    try:
        with TestClient(create_app(runtime=runtime)) as client, http_receiver() as receiver:
            seed = make_tenant(runtime.db, email="ssrf@acme.test")
            base = f"/api/environments/{seed.project.id}/error_tracking"
            created = client.post(
                f"{base}/alerts/",
                headers=seed.headers,
                json={
                    "name": "internal",
                    "triggers": ["issue_created"],
                    "destinations": [{"channel_type": "webhook", "config": {"url": receiver.url + "/in"}}],
                },
            ).json()
            answer = client.post(f"{base}/alerts/{created['id']}/test/", headers=seed.headers)
            assert answer.status_code == 200, answer.text
            [delivery] = answer.json()["results"]
            assert delivery["status"] == "failed"  # not retried: retrying cannot help
            assert "FAULTLINE_ALERT_ALLOW_INTERNAL_URLS" in delivery["attempt_log"][0]["error"]
            assert receiver.requests == []
    finally:
        runtime.close()


def test_reopened_issue_is_announced(client, seed, db, settings) -> None:
    base = f"/api/environments/{seed.project.id}/error_tracking"
    with http_receiver() as receiver:
        body = {
            "name": "regressions",
            "triggers": ["issue_reopened"],
            "destinations": [{"channel_type": "webhook", "config": {"url": receiver.url + "/re"}}],
        }
        assert client.post(f"{base}/alerts/", headers=seed.headers, json=body).status_code == 201
        at = (utcnow() - dt.timedelta(minutes=2)).isoformat()
        ingest(db, seed.project, [exception_event("RegressionError", "again", timestamp=at)])
        deliverer = Deliverer(db, settings)
        deliverer.run_once()
        assert receiver.requests == []  # created, not reopened
        issue = client.get(f"{base}/issues/", headers=seed.headers).json()["results"][0]
        resolved = client.patch(f"{base}/issues/{issue['id']}/", headers=seed.headers, json={"status": "resolved"})
        assert resolved.status_code == 200, resolved.text
        ingest(db, seed.project, [exception_event("RegressionError", "again")])
        deliverer.run_once()
        [sent] = receiver.at("/re")
        assert sent.json()["trigger"] == "issue_reopened" and sent.json()["issue"]["id"] == issue["id"]


def test_the_alert_form_shows_the_apis_message_next_to_the_field(client, seed) -> None:
    assert login(client, seed.user.email).status_code == 303
    page = client.get(f"/project/{seed.project.id}/alerts")
    assert page.status_code == 200
    response = client.post(
        f"/project/{seed.project.id}/alerts",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "bad url",
            "triggers": "issue_created",
            "channel_type": "slack",
            "url": "ftp://example.test/hook",
        },
    )
    assert response.status_code == 400
    assert "Enter a valid http(s) URL." in response.text
    assert 'value="ftp://example.test/hook"' in response.text  # what was typed is kept


def test_send_test_of_an_unknown_alert_is_not_found(db, settings, seed) -> None:
    from faultline.errors import NotFound

    with pytest.raises(NotFound):
        send_test(db, settings, seed.project.id, "00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("value", ["http://mail.test", "smtp://", "mail.test:25"])
def test_smtp_url_must_be_smtp_or_smtps(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="FAULTLINE_SMTP_URL"):
        load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), "FAULTLINE_SMTP_URL": value})
    assert load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), "FAULTLINE_SMTP_URL": "smtps://u:p@mail.test:465"})
