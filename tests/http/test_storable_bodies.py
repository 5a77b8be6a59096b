"""Every JSON body of the REST API is made storable before validation (faultline.http.storable): a NUL (PostgreSQL
refuses it in text) or a lone surrogate (SQLite's driver cannot encode it) in any string becomes U+FFFD, where it
used to be a 500 wherever a field reached a column (schemathesis found `POST /api/projects/ {"name": "\\u0000"}`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.http.storable import StorableJSONRequest
from tests.conftest import Tenant, make_settings, make_tenant


def _post(client: TestClient, tenant: Tenant, path: str, body: object):
    return client.post(
        path,
        content=json.dumps(body).encode(),  # escapes lone surrogates the way JSON allows (`\ud800`)
        headers={"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
    )


def _check(client: TestClient, tenant: Tenant) -> None:
    for raw, stored in (
        ("\x00", "\ufffd"),
        ("a\ud800b", "a\ufffdb"),
        ("emoji \U0001f600 kept", "emoji \U0001f600 kept"),
    ):
        response = _post(client, tenant, "/api/projects/", {"name": raw})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == stored
    # Another domain's body, nested strings included.
    base = f"/api/environments/{tenant.project.id}/error_tracking"
    release = _post(
        client, tenant, f"{base}/releases/", {"version": "v\x00", "project": "p", "metadata": {"k\x00": "v"}}
    )
    assert release.status_code == 201, release.text
    assert release.json()["version"] == "v\ufffd"


def test_bodies_are_made_storable_sqlite(client: TestClient, seed: Tenant) -> None:
    _check(client, seed)


@pytest.mark.postgres
def test_bodies_are_made_storable_postgres(tmp_path: Path, pg_url: str) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        _check(client, make_tenant(app.state.db, email="pg-storable@acme.test"))


def test_ordinary_bodies_are_not_walked() -> None:
    """The byte scan decides: a body without NUL or surrogate escapes is returned exactly as decoded."""

    def request(body: bytes) -> StorableJSONRequest:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        return StorableJSONRequest({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)

    assert asyncio.run(request(b'{"a": "\\u00e9", "b": [1, "x"]}').json()) == {"a": "\u00e9", "b": [1, "x"]}
    assert asyncio.run(request(b'{"a\\u0000": ["\\udc00"]}').json()) == {"a\ufffd": ["\ufffd"]}
