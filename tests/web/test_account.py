"""Account page: personal API keys made and revoked through the UI behave exactly like the API's."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts.models import PersonalAPIKey
from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from, login, tenant

KEY = re.compile(r'id="new-key-value">(phx_[^<]+)<')


def _new_key(response: httpx.Response) -> str:
    match = KEY.search(response.text)
    assert match, response.text[:800]
    return match.group(1)


def test_create_key_with_scopes_and_use_it(logged_in: TestClient, csrf: str, seed: Tenant) -> None:
    response = logged_in.post(
        "/account/keys", data={"csrf_token": csrf, "label": "read only", "scope:error_tracking": "read"}
    )
    assert response.status_code == 201
    value = _new_key(response)
    assert "shown only once" in response.text
    api = TestClient(logged_in.app)  # no session cookie: the key alone
    headers = {"Authorization": f"Bearer {value}"}
    assert api.get("/api/users/@me/", headers=headers).status_code == 403  # no user:read scope
    listed = logged_in.get("/api/personal_api_keys/").json()["results"]
    mine = next(k for k in listed if k["label"] == "read only")
    assert mine["scopes"] == ["error_tracking:read"] and mine["mask_value"] == value[:4] + "…" + value[-4:]
    # The page never shows the value again.
    assert value not in logged_in.get("/account").text


def test_all_access_and_project_restriction(logged_in: TestClient, csrf: str, seed: Tenant, db: Database) -> None:
    from faultline.accounts import service as accounts

    with db.write() as session:
        second = accounts.create_project(session, seed.organization.id, "Second")
    page = logged_in.post(
        "/account/keys",
        data={"csrf_token": csrf, "label": "ci", "scope_all": "on", "projects": [str(second.id)]},
    )
    assert page.status_code == 201
    headers = {"Authorization": f"Bearer {_new_key(page)}"}
    api = TestClient(logged_in.app)
    assert api.get(f"/api/environments/{second.id}/", headers=headers).status_code == 200
    assert api.get(f"/api/environments/{seed.project.id}/", headers=headers).status_code == 403


def test_key_form_errors_are_inline_and_keep_the_input(logged_in: TestClient, csrf: str, db: Database) -> None:
    with db.read() as session:
        before = session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one()
    no_scope = logged_in.post("/account/keys", data={"csrf_token": csrf, "label": "nothing"})
    assert no_scope.status_code == 400
    assert "At least one scope is required." in no_scope.text
    assert 'value="nothing"' in no_scope.text and '<details class="create" open>' in no_scope.text
    no_label = logged_in.post("/account/keys", data={"csrf_token": csrf, "scope:user": "read"})
    assert no_label.status_code == 400 and "Give the key a label" in no_label.text
    long_label = logged_in.post("/account/keys", data={"csrf_token": csrf, "label": "x" * 500, "scope:user": "read"})
    assert long_label.status_code == 400 and "no more than 100 characters" in long_label.text
    bad_level = logged_in.post(
        "/account/keys", data={"csrf_token": csrf, "label": "x", "scope:user": "admin", "scope:nope": "write"}
    )
    assert bad_level.status_code == 400  # unknown levels/objects are ignored, leaving no scope
    foreign = logged_in.post(
        "/account/keys", data={"csrf_token": csrf, "label": "x", "scope_all": "on", "projects": ["999", "abc"]}
    )
    assert foreign.status_code == 400 and "Choose projects from the list." in foreign.text
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one() == before


def test_revoke_key(logged_in: TestClient, csrf: str, seed: Tenant, db: Database) -> None:
    created = logged_in.post("/account/keys", data={"csrf_token": csrf, "label": "temp", "scope_all": "on"})
    value = _new_key(created)
    with db.read() as session:
        key_id = session.execute(sa.select(PersonalAPIKey.id).where(PersonalAPIKey.label == "temp")).scalar_one()
    response = logged_in.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert "API key revoked" in logged_in.get("/account").text  # flash survives the redirect, once
    assert "API key revoked" not in logged_in.get("/account").text
    api = TestClient(logged_in.app)
    assert api.get("/api/users/@me/", headers={"Authorization": f"Bearer {value}"}).status_code == 401
    again = logged_in.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 404
    assert logged_in.post("/account/keys/not-a-uuid/revoke", data={"csrf_token": csrf}).status_code == 404


def test_cannot_revoke_someone_elses_key(client: TestClient, seed: Tenant, db: Database) -> None:
    other = tenant(db, "eve@globex.test", "Globex")
    with db.read() as session:
        their_key = session.execute(
            sa.select(PersonalAPIKey.id).where(PersonalAPIKey.user_id == other.user.id)
        ).scalar_one()
    login(client, seed.user.email)
    token = csrf_from(client.get("/account").text)
    assert client.post(f"/account/keys/{their_key}/revoke", data={"csrf_token": token}).status_code == 404
    assert TestClient(client.app).get("/api/users/@me/", headers=other.headers).status_code == 200


def test_change_password_signs_out_other_sessions(client: TestClient, seed: Tenant) -> None:
    login(client, seed.user.email)
    elsewhere = TestClient(client.app)
    login(elsewhere, seed.user.email)
    token = csrf_from(client.get("/account").text)
    bad = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": "wrong", "new_password": "short", "confirm_password": ""},
    )
    assert bad.status_code == 400
    assert "This is not your current password." in bad.text and "at least 8 characters" in bad.text
    ok = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "correct horse",
            "new_password": "battery staple",
            "confirm_password": "battery staple",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "1 other session signed out" in client.get("/account").text
    assert elsewhere.get("/account", follow_redirects=False).status_code == 303
    assert login(TestClient(client.app), seed.user.email, password="battery staple").status_code == 303


def test_sessions_list_and_end_others(client: TestClient, seed: Tenant) -> None:
    login(client, seed.user.email)
    other = TestClient(client.app, headers={"user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X) Firefox/140.0"})
    login(other, seed.user.email)
    page = client.get("/account").text
    assert "Firefox 140 on macOS" in page and "this browser" in page
    token = csrf_from(page)
    client.post("/account/sessions/end-others", data={"csrf_token": token})
    assert other.get("/account", follow_redirects=False).status_code == 303
    assert client.get("/account").status_code == 200
