"""The UI on the real PostgreSQL: sessions and throttling, and the pages whose queries differ by dialect."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.issues.models import Issue
from faultline.rules.models import SuppressionRule
from faultline.web import sessions, throttle
from tests.conftest import make_settings, make_tenant
from tests.support.ingest import ingest, load_sample_events
from tests.web.conftest import csrf_from, login, post_rule


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


@pytest.mark.postgres
def test_issue_pages_on_postgres(pg_client: TestClient) -> None:
    """List (status counts, sparklines, `key:value` search via `->>`), issue page (event neighbours, stored context
    lines looked up by raw id), bulk merge, and rule reordering on PostgreSQL."""
    db = pg_client.app.state.db
    tenant = make_tenant(db, email="pg-ui@acme.test")
    [python] = ingest(db, tenant.project, load_sample_events("posthog_python_exception.json"))
    [js] = ingest(db, tenant.project, load_sample_events("posthog_js_exception.json"))
    assert login(pg_client, tenant.user.email).status_code == 303
    base = f"/project/{tenant.project.id}"

    listing = pg_client.get(f"{base}/issues").text
    assert 'aria-current="page">Active <span class="count">2</span>' in listing
    assert listing.count('aria-label="Events per hour, last 24 hours: 1 event, peak 1"') == 2
    assert "RuntimeError" not in pg_client.get(f"{base}/issues?q=%24lib%3Aweb").text

    page = pg_client.get(f"{base}/issues/{python.issue_id}").text
    page = re.sub(r'<span class="tk-[a-z]">([^<]*)</span>', r"\1", page)  # syntax highlighting (web/highlight.py)
    assert "Event <span data-event-index>1</span> of 1" in page
    assert (
        '<span class="ln crash" aria-current="true"><span class="no">6</span>    return int(raw) * 100</span>' in page
    )

    token = csrf_from(listing)
    merged = pg_client.post(
        f"{base}/issues/bulk",
        data={"csrf_token": token, "action": "merge", "ids": [str(python.issue_id), str(js.issue_id)]},
        follow_redirects=False,
    )
    assert merged.status_code == 303
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Issue)).scalar_one() == 1

    for name in ("A", "B"):
        created = post_rule(
            pg_client,
            f"{base}/rules/suppression",
            {"csrf_token": token, "key": "$exception_types", "operator": "exact", "value": name},
        )
        assert created.status_code == 303
    with db.read() as session:
        second = (
            session.execute(sa.select(SuppressionRule).order_by(SuppressionRule.order_key.desc())).scalars().first()
        )
    moved = pg_client.post(
        f"{base}/rules/suppression/{second.id}/move",
        data={"csrf_token": token, "direction": "up"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert re.findall(r"equals (\w+)</code>", pg_client.get(f"{base}/rules/suppression").text) == ["B", "A"]
    assert pg_client.get(f"{base}/ingestion").status_code == 200
