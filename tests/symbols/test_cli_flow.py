"""The exact HTTP sequence posthog-cli uses to upload symbol sets, against a real `faultline serve` process —
once with local blob storage (Faultline signs and serves the upload URL) and once with S3 (a moto server process).

bulk_check_upload → bulk_start_upload → multipart POST of the fields + `file` part to the presigned URL →
bulk_finish_upload, as in `cli/src/api/symbol_sets.rs`; then a frame carrying that chunk id resolves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from faultline.config import load_settings
from faultline.db import Database
from faultline.symbols.runtime import build_runtime
from tests.support.live_server import LiveServer
from tests.symbols.support import CHUNK_ID, S3_ENV, create_bucket, sample_blob, sample_frames, sha512

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(data_dir=tmp_path_factory.mktemp("cli-local") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[LiveServer]:
    bucket = f"symbols-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_endpoint, bucket)
    env = {"FAULTLINE_BLOB_URL": f"s3://{bucket}/faultline", "FAULTLINE_S3_ENDPOINT_URL": s3_endpoint, **S3_ENV}
    server = LiveServer(data_dir=tmp_path_factory.mktemp("cli-s3") / "data", env_overrides=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cli_client(server: LiveServer) -> tuple[httpx.Client, str]:
    creds = server.credentials()
    client = httpx.Client(
        base_url=f"{server.url}/api/projects/{creds['project_id']}/",
        headers={"Authorization": f"Bearer {creds['api_key']}", "User-Agent": "posthog-cli/0.7.3"},
        timeout=30,
    )
    return client, creds["project_id"]


@pytest.mark.parametrize("backend", ["local_server", "s3_server"])
def test_posthog_cli_upload_sequence_then_resolution(backend: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(backend)
    client, project_id = cli_client(server)
    blob = sample_blob()
    content_hash = sha512(blob)
    body = {
        "symbol_sets": [{"chunk_id": CHUNK_ID, "release_id": None, "content_hash": content_hash}],
        "force": False,
        "skip_on_conflict": False,
    }

    check = client.post("error_tracking/symbol_sets/bulk_check_upload", json=body)
    assert check.status_code == 200, check.text
    assert check.json() == {"chunk_ids_to_upload": [CHUNK_ID]}

    started = client.post("error_tracking/symbol_sets/bulk_start_upload", json=body)
    assert started.status_code == 201, started.text
    entry = started.json()["id_map"][CHUNK_ID]
    presigned = entry["presigned_url"]
    if backend == "s3_server":
        assert presigned["url"].startswith(request.getfixturevalue("s3_endpoint"))
        assert "policy" in presigned["fields"]
    else:
        assert presigned["url"] == f"{server.url}/_blobs/upload/"

    # The CLI's upload: every field as a text part, then the blob as part "file" with filename "file", no auth.
    uploaded = httpx.post(presigned["url"], data=presigned["fields"], files={"file": ("file", blob)}, timeout=30)
    assert uploaded.status_code in (200, 201, 204), uploaded.text

    finished = client.post(
        "error_tracking/symbol_sets/bulk_finish_upload", json={"content_hashes": {entry["symbol_set_id"]: content_hash}}
    )
    assert finished.status_code == 201, finished.text
    assert finished.json() == {"success": True}

    # What `posthog-cli` does to look a set up and download it again.
    listed = client.get(f"error_tracking/symbol_sets/?ref={CHUNK_ID}&limit=1").json()["results"]
    assert [item["id"] for item in listed] == [entry["symbol_set_id"]]
    assert listed[0]["has_uploaded_file"] is True
    url = client.get(f"error_tracking/symbol_sets/{entry['symbol_set_id']}/download/").json()["url"]
    assert httpx.get(url, timeout=30).content == blob

    # A second run has nothing to upload.
    assert client.post("error_tracking/symbol_sets/bulk_check_upload", json=body).json() == {"chunk_ids_to_upload": []}
    assert client.post("error_tracking/symbol_sets/bulk_start_upload", json=body).json() == {"id_map": {}}

    assert_event_frames_resolve(server, int(project_id))


def assert_event_frames_resolve(server: LiveServer, project_id: int) -> None:
    """The frames of the real posthog-js sample event resolve against what the server stored."""
    settings = load_settings(server.env())
    db = Database(settings.database_url)
    try:
        runtime = build_runtime(settings)
        names = []
        with db.write() as session:
            for frame in sample_frames():
                if frame.get("chunk_id") == CHUNK_ID:
                    [result] = runtime.resolver.resolve(session, project_id, frame)
                    names.append((result.contents["resolved_name"], result.contents["line"]))
        assert names == [("checkout", 19), ("computeTotal", 10), ("validateCart", 4)]
    finally:
        db.dispose()
