"""The route tables FastAPI builds lazily are built before the server takes requests: otherwise the first request
that walks them all (a 404, any page behind the capture routes) holds the GIL for seconds while `/_health` waits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import _IncludedRouter
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.http import server
from faultline.http.routing import warm_route_table
from tests.conftest import make_settings


def _forbid_building(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []

    def record(self: _IncludedRouter, route: Any) -> Any:
        built.append(getattr(route, "path", repr(route)))
        raise AssertionError("route table built while serving")

    monkeypatch.setattr(_IncludedRouter, "_build_effective_context", record)
    return built


@pytest.mark.parametrize("path", ["/no-such-page", "/login", "/api/environments/1/error_tracking/issues/"])
def test_after_the_warm_up_no_request_builds_a_route_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    app = create_app(make_settings(tmp_path / "data"))
    warm_route_table(app)
    built = _forbid_building(monkeypatch)
    with TestClient(app, raise_server_exceptions=True) as client:
        assert client.get(path).status_code in (200, 401, 404)
    assert built == []


def test_without_the_warm_up_the_first_miss_builds_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a fresh app still builds its tables on the first request that walks them."""
    app = create_app(make_settings(tmp_path / "data"))
    built = _forbid_building(monkeypatch)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/no-such-page")
    assert built


def test_run_warms_the_tables_before_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path / "data")
    app = create_app(settings)
    served: list[Any] = []

    def fake_uvicorn_run(asgi: Any, **_options: Any) -> None:
        built = _forbid_building(monkeypatch)
        with TestClient(asgi) as client:
            assert client.get("/no-such-page").status_code == 404
        served.append(built)

    monkeypatch.setattr(server.uvicorn, "run", fake_uvicorn_run)
    monkeypatch.setattr(server, "freeze_startup_heap", lambda: None)
    monkeypatch.setattr(server, "apply_connection_budget", lambda cap: (cap, 128))
    monkeypatch.setattr(server.logging.config, "dictConfig", lambda _config: None)  # keep pytest's logging
    switch = sys.getswitchinterval()
    try:
        server.run(app, settings)
    finally:
        sys.setswitchinterval(switch)
    assert served == [[]]
