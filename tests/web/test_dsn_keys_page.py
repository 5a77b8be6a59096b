"""The Sentry DSN card of the project settings page: the full DSN at the public URL, creating a key, disabling and
enabling one, all through the same service as the REST API."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import dsn as dsn_keys
from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from


def keys(db: Database, project_id: int) -> list[dsn_keys.DsnKey]:
    with db.read() as session:
        return list(session.execute(dsn_keys.list_stmt(project_id)).scalars())


def test_dsn_card_create_disable_enable(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    url = f"/project/{seed.project.id}/settings"
    [default] = keys(db, seed.project.id)
    public_url = logged_in.app.state.settings.public_url  # type: ignore[attr-defined]
    host = public_url.split("//", 1)[1]
    page = logged_in.get(url)
    assert f"http://{default.public_key}@{host}/{seed.project.id}" in page.text

    csrf = csrf_from(page.text)
    created = logged_in.post(f"{url}/dsn", data={"csrf_token": csrf, "label": "backend"}, follow_redirects=False)
    assert created.status_code == 303
    default, backend = keys(db, seed.project.id)
    assert backend.label == "backend" and backend.enabled

    off = logged_in.post(f"{url}/dsn/{backend.id}/enabled", data={"csrf_token": csrf}, follow_redirects=False)
    assert off.status_code == 303
    assert [k.enabled for k in keys(db, seed.project.id)] == [True, False]
    assert "disabled" in logged_in.get(url).text
    on = logged_in.post(f"{url}/dsn/{backend.id}/enabled", data={"csrf_token": csrf, "enabled": "on"})
    assert on.status_code == 200
    assert [k.enabled for k in keys(db, seed.project.id)] == [True, True]

    # Without the CSRF token nothing changes.
    logged_in.post(f"{url}/dsn", data={"label": "sneaky"}, follow_redirects=False)
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(dsn_keys.DsnKey)).scalar_one() == 2
