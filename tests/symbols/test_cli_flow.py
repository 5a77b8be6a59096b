"""The exact HTTP sequence posthog-cli uses to upload symbol sets, against a real `faultline serve` process —
once with local blob storage (Faultline signs and serves the upload URL) and once with S3 (a moto server process).

bulk_check_upload → bulk_start_upload → multipart POST of the fields + `file` part to the presigned URL →
bulk_finish_upload, as in `cli/src/api/symbol_sets.rs`; then the recorded posthog-js request is sent to the
server's capture endpoint and its frames come out symbolicated by the server's own digest worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
import sqlalchemy as sa

from faultline.config import load_settings
from faultline.db import Database
from faultline.issues.models import Event
from tests.support.ingest import load_sample
from tests.support.live_server import LiveServer
from tests.symbols.support import CHUNK_ID, S3_ENV, create_bucket, sample_blob, sha512

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_server(live_server: LiveServer) -> LiveServer:
    """The module's live server (conftest) on local blob storage, named for the parametrized backends."""
    return live_server


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


def cli_upload(client: httpx.Client, chunk_id: str, blob: bytes) -> str:
    """bulk_check_upload → bulk_start_upload → POST to the presigned URL → bulk_finish_upload, like posthog-cli."""
    content_hash = sha512(blob)
    body = {
        "symbol_sets": [{"chunk_id": chunk_id, "release_id": None, "content_hash": content_hash}],
        "force": False,
        "skip_on_conflict": False,
    }
    check = client.post("error_tracking/symbol_sets/bulk_check_upload", json=body)
    assert check.status_code == 200, check.text
    assert check.json() == {"chunk_ids_to_upload": [chunk_id]}
    started = client.post("error_tracking/symbol_sets/bulk_start_upload", json=body)
    assert started.status_code == 201, started.text
    entry = started.json()["id_map"][chunk_id]
    presigned = entry["presigned_url"]
    # The CLI's upload: every field as a text part, then the blob as part "file" with filename "file", no auth.
    uploaded = httpx.post(presigned["url"], data=presigned["fields"], files={"file": ("file", blob)}, timeout=30)
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    finished = client.post(
        "error_tracking/symbol_sets/bulk_finish_upload", json={"content_hashes": {entry["symbol_set_id"]: content_hash}}
    )
    assert finished.status_code == 201, finished.text
    assert finished.json() == {"success": True}
    return entry["symbol_set_id"]


def send_sample_event(server: LiveServer, chunk_id: str = CHUNK_ID) -> str:
    """The recorded posthog-js request body, re-addressed to this server's project and given a fresh uuid."""
    body = load_sample("posthog_js_exception.json")
    token = server.credentials()["project_token"]
    body["api_key"] = token
    event = body["batch"][0]
    event["uuid"] = str(uuid.uuid4())
    event["properties"]["token"] = token
    for frame in event["properties"]["$exception_list"][0]["stacktrace"]["frames"]:
        if "chunk_id" in frame:
            frame["chunk_id"] = chunk_id
    response = httpx.post(f"{server.url}/e/", content=orjson.dumps(body), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    return event["uuid"]


def stored_frames(server: LiveServer, event_uuid: str, chunk_id: str, *, wait_until_resolved: bool = False) -> list:
    """The stored event's frames of `chunk_id`, read from the server's database once the worker stored it."""
    settings = load_settings(server.env())
    db = Database(settings.database_url)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with db.read() as session:
                properties = session.scalar(sa.select(Event.properties).where(Event.uuid == uuid.UUID(event_uuid)))
            if properties is not None:
                frames = [
                    f
                    for f in properties["$exception_list"][0]["stacktrace"]["frames"]
                    if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == chunk_id
                ]
                if not wait_until_resolved or all(f["resolved"] for f in frames):
                    return frames
            time.sleep(0.3)
        raise AssertionError(f"event {event_uuid} was not stored (resolved) in time")
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["local_server", "s3_server"])
def test_posthog_cli_upload_sequence_then_resolution(backend: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(backend)
    client, _ = cli_client(server)
    blob = sample_blob()
    symbol_set_id = cli_upload(client, CHUNK_ID, blob)
    if backend == "s3_server":
        item = client.get(f"error_tracking/symbol_sets/{symbol_set_id}/download/").json()
        assert item["url"].startswith(request.getfixturevalue("s3_endpoint"))

    # What `posthog-cli` does to look a set up and download it again.
    listed = client.get(f"error_tracking/symbol_sets/?ref={CHUNK_ID}&limit=1").json()["results"]
    assert [item["id"] for item in listed] == [symbol_set_id]
    assert listed[0]["has_uploaded_file"] is True
    url = client.get(f"error_tracking/symbol_sets/{symbol_set_id}/download/").json()["url"]
    assert httpx.get(url, timeout=30).content == blob

    # A second run has nothing to upload.
    body = {"symbol_sets": [{"chunk_id": CHUNK_ID, "release_id": None, "content_hash": sha512(blob)}]}
    assert client.post("error_tracking/symbol_sets/bulk_check_upload", json=body).json() == {"chunk_ids_to_upload": []}
    assert client.post("error_tracking/symbol_sets/bulk_start_upload", json=body).json() == {"id_map": {}}

    # The real posthog-js request, through capture and the server's digest worker.
    frames = stored_frames(server, send_sample_event(server), CHUNK_ID)
    assert [(f["source"], f["line"], f["resolved_name"]) for f in frames] == [
        ("../src/app.js", 19, "checkout"),
        ("../src/app.js", 10, "computeTotal"),
        ("../src/app.js", 4, "validateCart"),
    ]


def test_running_server_repairs_events_after_a_late_upload(local_server: LiveServer) -> None:
    client, _ = cli_client(local_server)
    chunk_id = str(uuid.uuid4())
    event_uuid = send_sample_event(local_server, chunk_id)
    assert [f["resolved"] for f in stored_frames(local_server, event_uuid, chunk_id)] == [False, False, False]
    symbol_set_id = cli_upload(client, chunk_id, sample_blob())
    frames = stored_frames(local_server, event_uuid, chunk_id, wait_until_resolved=True)
    assert [f["resolved_name"] for f in frames] == ["checkout", "computeTotal", "validateCart"]
    jobs = client.get(f"error_tracking/symbol_sets/repair_jobs/?symbol_set={symbol_set_id}").json()["results"]
    assert jobs[0]["progress"]["repaired"] == 1
