"""CORS on the endpoints SDKs call from web pages: capture and remote config (one implementation, `http/cors.py`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tenant

ORIGIN = "https://shop.example.com"


def assert_cors(headers, origin: str | None) -> None:
    assert headers["access-control-allow-origin"] == (origin or "*")
    assert headers["vary"] == "Origin"
    if origin:
        assert headers["access-control-allow-credentials"] == "true"
    else:
        assert "access-control-allow-credentials" not in headers


@pytest.mark.parametrize("origin", [ORIGIN, None])
def test_capture_answers_and_errors_carry_cors_headers(client: TestClient, seed: Tenant, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    body = {"api_key": seed.project.api_token, "event": "$pageview", "distinct_id": "d", "properties": {}}
    accepted = client.post("/e/", json=body, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert_cors(accepted.headers, origin)
    rejected = client.post("/e/", json={**body, "api_key": "phc_nope"}, headers=headers)
    assert rejected.status_code == 401
    assert_cors(rejected.headers, origin)


@pytest.mark.parametrize("origin", [ORIGIN, None])
def test_remote_config_answers_and_errors_carry_cors_headers(
    client: TestClient, seed: Tenant, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    found = client.get(f"/array/{seed.project.api_token}/config", headers=headers)
    assert found.status_code == 200
    assert_cors(found.headers, origin)
    missing = client.get("/array/phc_nope/config", headers=headers)
    assert missing.status_code == 404
    assert_cors(missing.headers, origin)


@pytest.mark.parametrize(("path", "methods"), [("/e/", "POST, OPTIONS"), ("/decide/", "GET, POST, OPTIONS")])
def test_preflight(client: TestClient, path: str, methods: str) -> None:
    asked = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-custom",
        },
    )
    assert asked.status_code == 200
    assert_cors(asked.headers, ORIGIN)
    assert asked.headers["access-control-allow-methods"] == methods
    assert asked.headers["access-control-allow-headers"] == "content-type, x-custom"
    assert asked.headers["access-control-max-age"] == "86400"
    default = client.options(path, headers={"Origin": ORIGIN})
    assert default.headers["access-control-allow-headers"] == "Content-Type, Authorization"
