"""The session and throttle tables on the real PostgreSQL: login, throttling, API via session, logout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.web import sessions, throttle
from tests.conftest import make_settings, make_tenant
from tests.web.conftest import csrf_from, login


@pytest.fixture
def pg_client(pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        yield client


@pytest.mark.postgres
def test_session_lifecycle_on_postgres(pg_client: TestClient) -> None:
    tenant = make_tenant(pg_client.app.state.db, email="pg@acme.test")
    for _ in range(throttle.MAX_PER_EMAIL):
        assert login(pg_client, tenant.user.email, password="wrong password").status_code == 400
    assert login(pg_client, tenant.user.email).status_code == 429

    other = make_tenant(pg_client.app.state.db, email="pg2@acme.test", name="Beta")
    assert login(pg_client, other.user.email).status_code == 303
    assert pg_client.get("/api/users/@me/").json()["email"] == other.user.email
    token = csrf_from(pg_client.get(f"/project/{other.project.id}/settings").text)
    renamed = pg_client.post(
        f"/project/{other.project.id}/settings/name", data={"csrf_token": token, "name": "Beta prod"}
    )
    assert renamed.status_code == 200 and "Beta prod" in renamed.text
    assert pg_client.get(f"/project/{tenant.project.id}/settings").status_code == 404
    pg_client.post("/logout", data={"csrf_token": token})
    assert sessions.COOKIE_NAME not in pg_client.cookies
    assert pg_client.get("/account", follow_redirects=False).status_code == 303
