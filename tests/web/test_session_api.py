"""A browser session also authenticates the REST API — reads freely, writes only with the session's CSRF token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from, login


def test_session_reads_the_api(logged_in: TestClient, seed: Tenant) -> None:
    me = logged_in.get("/api/users/@me/")
    assert me.status_code == 200 and me.json()["email"] == seed.user.email
    assert logged_in.get(f"/api/environments/{seed.project.id}/").status_code == 200


def test_session_api_writes_need_the_csrf_header(logged_in: TestClient, seed: Tenant) -> None:
    url = f"/api/environments/{seed.project.id}/"
    refused = logged_in.patch(url, json={"name": "Hijacked"})
    assert refused.status_code == 401
    assert refused.json()["type"] == "authentication_error"
    wrong = logged_in.patch(url, json={"name": "Hijacked"}, headers={"X-CSRFToken": "guess"})
    assert wrong.status_code == 401
    token = csrf_from(logged_in.get("/account").text)
    accepted = logged_in.patch(url, json={"name": "Renamed via API"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.json()["name"] == "Renamed via API"


def test_session_cannot_reach_another_organizations_project(
    client: TestClient, seed: Tenant, other_tenant: Tenant
) -> None:
    login(client, seed.user.email)
    assert client.get(f"/api/environments/{other_tenant.project.id}/").status_code == 404


def test_api_key_wins_over_the_session(logged_in: TestClient, seed: Tenant, other_tenant: Tenant) -> None:
    me = logged_in.get("/api/users/@me/", headers=other_tenant.headers)
    assert me.json()["email"] == other_tenant.user.email


def test_capture_paths_never_consult_the_session(logged_in: TestClient, db: Database, seed: Tenant) -> None:
    """The session middleware only runs for UI and API paths; anything else sees no session state."""
    from faultline.web.paths import is_api_path, is_web_path

    for path in ("/e/", "/batch/", "/i/v0/e/", "/capture/", "/decide/", "/array/phc_x/config.js", "/static/a.js"):
        assert not is_web_path(path) and not is_api_path(path), path
