"""sentry-cli's chunk upload and assemble on S3 blob storage (a moto server process): chunks and symbol sets go
to the bucket, the used chunks leave it, and the set holds posthog-cli's container of the bundle's script and map."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import boto3
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.symbols import blobformat
from tests.conftest import make_settings, make_tenant
from tests.support.ingest import SAMPLES
from tests.symbols.support import S3_ENV, create_bucket
from tests.symbols.test_artifact_bundle import bundle


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_chunks_and_sets_live_in_the_bucket(tmp_path: Path, s3_endpoint: str) -> None:
    bucket = f"sentry-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_endpoint, bucket)
    env = {
        "FAULTLINE_BLOB_URL": f"s3://{bucket}/fl",
        "FAULTLINE_S3_ENDPOINT_URL": s3_endpoint,
        "FAULTLINE_SENTRY_CHUNK_BYTES": "1024",
        **S3_ENV,
    }
    source = (SAMPLES / "js_bundle" / "app.min.js").read_bytes()
    sourcemap = (SAMPLES / "js_bundle" / "app.min.js.map").read_bytes()
    debug_id = str(uuid.uuid4())
    files = {
        "files/_/_/app.min.js": (
            {"type": "minified_source", "url": "~/app.min.js", "headers": {"debug-id": debug_id}},
            source,
        ),
        "files/_/_/app.min.js.map": (
            {"type": "source_map", "url": "~/app.min.js.map", "headers": {"debug-id": debug_id}},
            sourcemap,
        ),
    }
    data = bundle(files)
    chunks = [data[i : i + 1024] for i in range(0, len(data), 1024)]
    assert len(chunks) > 1
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def keys(prefix: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]

    app = create_app(make_settings(tmp_path / "data", **env))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="s3@acme.test")
        base = "/api/0/organizations/acme"
        body = {"checksum": _sha1(data), "chunks": [_sha1(c) for c in chunks], "projects": ["acme-web"]}
        first = client.post(f"{base}/artifactbundle/assemble/", headers=tenant.headers, json=body).json()
        assert first["state"] == "not_found" and first["missingChunks"] == body["chunks"]
        files_part = [("file", (_sha1(c), c)) for c in chunks]
        assert client.post(f"{base}/chunk-upload/", headers=tenant.headers, files=files_part).status_code == 200
        assert len(keys("fl/sentrychunks/")) == len(set(body["chunks"]))
        done = client.post(f"{base}/artifactbundle/assemble/", headers=tenant.headers, json=body)
        assert done.status_code == 200 and done.json()["state"] == "ok", done.text
        assert keys("fl/sentrychunks/") == []

        sets = client.get(
            f"/api/projects/{tenant.project.id}/error_tracking/symbol_sets/?ref={debug_id}", headers=tenant.headers
        ).json()["results"]
        assert len(sets) == 1 and sets[0]["has_uploaded_file"]
        [key] = [k for k in keys("fl/symbolsets/")]
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        pair = blobformat.parse_source_and_map(blobformat.read(stored).payload)
        assert (pair.source, pair.sourcemap) == (source, sourcemap)
    app.state.db.dispose()
