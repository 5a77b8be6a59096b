"""DRF LimitOffset envelope and its lenient limit/offset parsing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from starlette.datastructures import URL

from faultline.accounts import service as accounts
from faultline.app import create_app
from faultline.config import Settings
from faultline.db import Database
from faultline.http.pagination import MAX_LIMIT, PageParams, page_params_factory
from tests.conftest import Tenant, make_settings, make_tenant


def _request(url: str) -> SimpleNamespace:
    """What the dependency reads of a request: its URL and the app's settings."""
    settings = SimpleNamespace(public_url="http://t")
    return SimpleNamespace(url=URL(url), app=SimpleNamespace(state=SimpleNamespace(settings=settings)))


def _params(limit: str | None = None, offset: str | None = None, url: str = "http://t/api/x/?q=1") -> PageParams:
    return page_params_factory()(_request(url), limit, offset)  # type: ignore[arg-type]


def test_defaults_and_clamping() -> None:
    assert (_params().limit, _params().offset) == (100, 0)
    assert _params("5").limit == 5
    assert _params(str(MAX_LIMIT * 10)).limit == MAX_LIMIT
    for bad in ("0", "-3", "abc", "", "1e3"):
        assert _params(bad).limit == 100, bad
    for bad in ("-1", "x"):
        assert _params(offset=bad).offset == 0, bad


def test_endpoint_specific_maximum() -> None:
    assert page_params_factory(max_limit=100)(_request("http://t/"), "500", None).limit == 100  # type: ignore[arg-type]


def test_links_keep_other_query_params() -> None:
    envelope = _params("10", "10").envelope(35, list(range(10)))
    assert envelope["count"] == 35
    nxt = parse_qs(urlsplit(envelope["next"]).query)
    assert nxt == {"q": ["1"], "limit": ["10"], "offset": ["20"]}
    prev = parse_qs(urlsplit(envelope["previous"]).query)
    assert prev == {"q": ["1"], "limit": ["10"]}  # DRF drops offset when going back to the first page
    last = _params("10", "30").envelope(35, list(range(5)))
    assert last["next"] is None
    assert parse_qs(urlsplit(last["previous"]).query)["offset"] == ["20"]
    first = _params("10").envelope(35, [])
    assert first["previous"] is None


def test_projects_list_is_paginated(client: TestClient, db: Database, seed: Tenant) -> None:
    with db.write() as session:
        for i in range(12):
            accounts.create_project(session, seed.organization.id, f"p{i:02d}")
    page1 = client.get("/api/projects/?limit=5", headers=seed.headers).json()
    assert set(page1) == {"count", "next", "previous", "results"}
    assert page1["count"] == 13 and len(page1["results"]) == 5 and page1["previous"] is None
    page2 = client.get(page1["next"], headers=seed.headers).json()
    page3 = client.get(page2["next"], headers=seed.headers).json()
    assert page3["next"] is None and len(page3["results"]) == 3
    ids = [p["id"] for p in page1["results"] + page2["results"] + page3["results"]]
    assert len(set(ids)) == 13
    beyond = client.get("/api/projects/?limit=5&offset=500", headers=seed.headers).json()
    assert beyond["results"] == [] and beyond["count"] == 13
    lenient = client.get("/api/projects/?limit=banana&offset=-4", headers=seed.headers)
    assert lenient.status_code == 200 and len(lenient.json()["results"]) == 13


def test_links_are_built_on_the_public_url_not_the_host_header(
    client: TestClient, db: Database, seed: Tenant, settings: Settings
) -> None:
    """`Host: evil.invalid` must not turn into `"next": "http://evil.invalid/…"` (README: FAULTLINE_PUBLIC_URL)."""
    with db.write() as session:
        for i in range(3):
            accounts.create_project(session, seed.organization.id, f"p{i}")
    public = settings.public_url
    for host in ("evil.invalid", "evil.invalid:8443", "127.0.0.1:1"):
        headers = {**seed.headers, "Host": host, "X-Forwarded-Host": "evil.invalid"}
        page = client.get("/api/projects/?limit=1&offset=2", headers=headers).json()
        for link in (page["next"], page["previous"]):
            assert link.startswith(f"{public}/api/projects/?"), (host, link)
    # The issue activity feed pages the same way.
    activity = client.get(
        f"/api/environments/{seed.project.id}/error_tracking/issues/activity/?limit=1&page=2",
        headers={**seed.headers, "Host": "evil.invalid"},
    ).json()
    assert activity["previous"].startswith(f"{public}/api/environments/{seed.project.id}/"), activity


def test_a_public_url_with_a_path_prefix(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_PUBLIC_URL="https://errors.example.com/faultline/"))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="prefix@acme.test")
        with app.state.db.write() as session:
            accounts.create_project(session, tenant.organization.id, "second")
        page = client.get("/api/projects/?limit=1", headers={**tenant.headers, "Host": "evil.invalid"}).json()
    assert page["next"] == "https://errors.example.com/faultline/api/projects/?limit=1&offset=1"
