"""UI pages are gzip-compressed for browsers that accept it; capture, REST API and static files are left alone."""

from __future__ import annotations

from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant
from tests.support.factories import create_issue

GZIP = {"Accept-Encoding": "gzip"}


def test_html_pages_are_gzipped(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.write() as session:
        for n in range(30):
            create_issue(session, seed.project.id, name=f"TypeError {n}", description="cart is undefined " * 5)
    page = logged_in.get(f"/project/{seed.project.id}/issues", headers=GZIP)
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip" and "accept-encoding" in page.headers["vary"].lower()
    raw = int(page.headers["content-length"])
    assert raw < len(page.content) / 4  # compressed on the wire; httpx decoded it
    plain = logged_in.get(f"/project/{seed.project.id}/issues", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text.count("TypeError") == page.text.count("TypeError")


def test_api_capture_and_static_are_not_gzipped(logged_in: TestClient, seed: Tenant) -> None:
    api = logged_in.get(f"/api/environments/{seed.project.id}/error_tracking/issues/", headers={**GZIP, **seed.headers})
    assert api.status_code == 200 and "content-encoding" not in api.headers
    capture = logged_in.post(
        "/i/v0/e/",
        json={"api_key": seed.project.api_token, "event": "$pageview", "distinct_id": "x", "properties": {}},
        headers=GZIP,
    )
    assert capture.status_code == 200 and "content-encoding" not in capture.headers
    css = logged_in.get("/_static/faultline.css", headers=GZIP)
    assert css.status_code == 200 and "content-encoding" not in css.headers
