"""Chunks sentry-cli uploaded but no bundle used are bounded: pending bytes per organization at the edge, abandoned
chunks swept after FAULTLINE_SENTRY_CHUNK_TTL, used and refused chunks forgotten with their blobs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from tests.conftest import Tenant, make_settings, make_tenant
from tests.support.databases import database_env

PENDING = 4096


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield database_env(request.param, stack)


@pytest.fixture
def setup(
    tmp_path: Path, request: pytest.FixtureRequest, backend: dict[str, str]
) -> Iterator[tuple[TestClient, Tenant, Path]]:
    env = {"FAULTLINE_SENTRY_PENDING_BYTES": str(PENDING), **backend, **getattr(request, "param", {})}
    app = create_app(make_settings(tmp_path / "data", **env))
    try:
        with TestClient(app) as client:
            yield client, make_tenant(app.state.db, email="ci@acme.test"), tmp_path / "data" / "blobs"
    finally:
        app.state.db.dispose()


def _upload(client: TestClient, tenant: Tenant, *chunks: bytes) -> object:
    files = [("file", (_sha1(c), c)) for c in chunks]
    return client.post("/api/0/organizations/acme/chunk-upload/", headers=tenant.headers, files=files)


def _blob(blobs: Path, tenant: Tenant, data: bytes) -> Path:
    return blobs / "sentrychunks" / str(tenant.organization.id) / _sha1(data)


def test_pending_bytes_at_the_edge_then_freed_by_assemble(setup) -> None:
    client, tenant, blobs = setup
    big, rest = b"a" * (PENDING - 96), b"b" * 96
    assert _upload(client, tenant, big).status_code == 200
    assert _upload(client, tenant, rest).status_code == 200  # exactly PENDING bytes pending
    assert _upload(client, tenant, big).status_code == 200  # known already: not counted twice
    one_more = _upload(client, tenant, b"c")
    assert one_more.status_code == 400 and one_more.json()["code"] == "too_many_pending_chunks"
    assert _blob(blobs, tenant, big).exists()

    # A bundle made of them (not a zip): refused, and its chunks are forgotten with their blobs.
    bundle = big + rest
    body = {"checksum": _sha1(bundle), "chunks": [_sha1(big), _sha1(rest)], "projects": ["acme-web"]}
    refused = client.post("/api/0/organizations/acme/artifactbundle/assemble/", headers=tenant.headers, json=body)
    assert refused.status_code == 400 and refused.json()["state"] == "error"
    assert not _blob(blobs, tenant, big).exists()
    assert _upload(client, tenant, b"c").status_code == 200
    again = client.post("/api/0/organizations/acme/artifactbundle/assemble/", headers=tenant.headers, json=body)
    assert again.json()["missingChunks"] == [_sha1(big), _sha1(rest)]


@pytest.mark.parametrize("setup", [{"FAULTLINE_SENTRY_CHUNK_TTL": "0.5"}], indirect=True)
def test_abandoned_chunks_are_swept_after_the_ttl(setup) -> None:
    client, tenant, blobs = setup
    abandoned, later = b"x" * 3000, b"y" * 3000
    assert _upload(client, tenant, abandoned).status_code == 200
    time.sleep(1.0)
    # Would exceed PENDING if the abandoned chunk still counted.
    assert _upload(client, tenant, later).status_code == 200
    assert not _blob(blobs, tenant, abandoned).exists()
    body = {"checksum": "1" * 40, "chunks": [_sha1(abandoned), _sha1(later)], "projects": ["acme-web"]}
    answer = client.post("/api/0/organizations/acme/artifactbundle/assemble/", headers=tenant.headers, json=body)
    assert answer.json()["missingChunks"] == [_sha1(abandoned)]
