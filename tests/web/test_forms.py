"""Every UI form: CSRF enforced, hostile bodies answered with a clear 4xx page, nothing changed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts.models import PersonalAPIKey, Project
from faultline.db import Database
from faultline.web.paths import is_web_path
from tests.conftest import Tenant


def _routes(routes, prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, looking inside included routers (FastAPI wraps them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
        elif getattr(route, "methods", None):
            yield prefix + route.path, set(route.methods)


def _post_targets(seed: Tenant, app) -> list[str]:
    """Every POST route of the UI (found on the app, so a form added later is covered too), with its path
    parameters filled in; object ids are random, since CSRF is judged before any lookup."""
    values = {
        "project_id": str(seed.project.id),
        "kind": "suppression",
        "issue_id": str(uuid.uuid4()),
        "rule_id": str(uuid.uuid4()),
        "alert_id": str(uuid.uuid4()),
        "symbol_set_id": str(uuid.uuid4()),
        "release_id": str(uuid.uuid4()),
        "key_id": str(uuid.uuid4()),
        "org_id": str(seed.organization.id),
        "user_id": str(seed.user.id),
    }
    targets = []
    for path, methods in _routes(app.routes):
        if "POST" not in methods or not is_web_path(path) or path.rstrip("/") == "/login":
            continue
        targets.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path))
    assert f"/project/{seed.project.id}/issues/bulk" in targets and len(targets) >= 20
    return sorted(set(targets))


# Multipart uploads judge the body's type before parsing it (and CSRF after): a urlencoded post is refused as such.
UPLOADS = re.compile(r"/symbol-sets/upload/?$")


def test_every_form_refuses_posts_without_csrf(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.read() as session:
        keys_before = session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one()
    for url in _post_targets(seed, logged_in.app):
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
            response = logged_in.post(url, data={**data, "name": "Evil", "label": "x", "scope_all": "on"})
            if UPLOADS.search(url):
                assert response.status_code == 415, url
                continue
            assert response.status_code == 403, (url, data)
            assert "CSRF" in response.text
            assert response.headers["content-type"].startswith("text/html")
    with db.read() as session:
        assert session.get(Project, seed.project.id).name == seed.project.name
        keys_after = session.execute(sa.select(sa.func.count()).select_from(PersonalAPIKey)).scalar_one()
    assert keys_after == keys_before


def test_anonymous_posts_go_to_login(client: TestClient, seed: Tenant) -> None:
    for url in _post_targets(seed, client.app):
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
