"""DRF LimitOffset envelope and its lenient limit/offset parsing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.http.pagination import MAX_LIMIT, PageParams, page_params_factory
from tests.conftest import Tenant


def _params(limit: str | None = None, offset: str | None = None, url: str = "http://t/api/x/?q=1") -> PageParams:
    class _Req:
        def __init__(self) -> None:
            self.url = url

    return page_params_factory()(_Req(), limit, offset)  # type: ignore[arg-type]


def test_defaults_and_clamping() -> None:
    assert (_params().limit, _params().offset) == (100, 0)
    assert _params("5").limit == 5
    assert _params(str(MAX_LIMIT * 10)).limit == MAX_LIMIT
    for bad in ("0", "-3", "abc", "", "1e3"):
        assert _params(bad).limit == 100, bad
    for bad in ("-1", "x"):
        assert _params(offset=bad).offset == 0, bad


def test_endpoint_specific_maximum() -> None:
    class _Req:
        url = "http://t/"

    assert page_params_factory(max_limit=100)(_Req(), "500", None).limit == 100  # type: ignore[arg-type]


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
