"""Every UI form: CSRF enforced, hostile bodies answered with a clear 4xx page, nothing changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts.models import PersonalAPIKey, Project
from faultline.db import Database
from tests.conftest import Tenant


def _post_targets(seed: Tenant) -> list[str]:
    project = f"/project/{seed.project.id}"
    return [
        "/logout",
        "/account/keys",
        "/account/password",
        "/account/sessions/end-others",
        f"{project}/settings/name",
        f"{project}/settings/autocapture",
    ]


def test_every_form_refuses_posts_without_csrf(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.read() as session:
        keys_before = session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one()
    for url in _post_targets(seed):
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
            response = logged_in.post(url, data={**data, "name": "Evil", "label": "x", "scope_all": "on"})
            assert response.status_code == 403, (url, data)
            assert "CSRF" in response.text
            assert response.headers["content-type"].startswith("text/html")
    with db.read() as session:
        assert session.get(Project, seed.project.id).name == seed.project.name
        keys_after = session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one()
    assert keys_after == keys_before


def test_anonymous_posts_go_to_login(client: TestClient, seed: Tenant) -> None:
    for url in _post_targets(seed):
        response = client.post(url, data={"csrf_token": "x"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), url


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"a=" + b"x" * (300 * 1024), {"content-type": "application/x-www-form-urlencoded"}, 413),
        (b"&".join(b"f%d=1" % i for i in range(2000)), {"content-type": "application/x-www-form-urlencoded"}, 413),
        (b'{"csrf_token": "x"}', {"content-type": "application/json"}, 415),
        (b"--b\r\n", {"content-type": "multipart/form-data; boundary=b"}, 415),
        (b"csrf_token=%ff%fe&name=%00", {"content-type": "application/x-www-form-urlencoded"}, 403),
        (b"\xff\xfe\x00garbage", {"content-type": "application/x-www-form-urlencoded"}, 403),
    ],
)
def test_hostile_bodies_get_clear_pages(logged_in: TestClient, seed: Tenant, body: bytes, headers, status) -> None:
    response = logged_in.post(f"/project/{seed.project.id}/settings/name", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text


def test_unknown_ui_urls_are_html_404s(logged_in: TestClient, seed: Tenant) -> None:
    for url in ("/project/1/no-such-page", "/project/abc/settings", "/project/99999999999999/settings", "/account/x"):
        response = logged_in.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
    api = logged_in.get("/api/no-such-thing/")
    assert api.status_code == 404 and api.json()["code"] == "not_found"


def test_pages_carry_security_headers(logged_in: TestClient) -> None:
    response = logged_in.get("/account")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text and " style=" not in response.text
