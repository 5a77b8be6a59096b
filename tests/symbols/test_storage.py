"""Blob storage: local files with signed URLs, and S3 through a real moto server process."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from faultline.symbols.storage import (
    InvalidKey,
    LocalBlobStorage,
    S3BlobStorage,
    check_key,
    new_key,
    storage_from_settings,
)
from tests.conftest import make_settings
from tests.symbols.support import S3_ENV, create_bucket


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStorage:
    return LocalBlobStorage(tmp_path / "blobs", public_url="http://faultline.test", secret="s" * 32)


@pytest.fixture
def s3(s3_endpoint: str) -> S3BlobStorage:
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    create_bucket(s3_endpoint, bucket)
    return S3BlobStorage(
        bucket, "faultline/prefix", endpoint_url=s3_endpoint, access_key_id="testing", secret_access_key="testing"
    )


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_put_get_size_delete(backend: str, request: pytest.FixtureRequest) -> None:
    storage = request.getfixturevalue(backend)
    key = new_key()
    assert storage.get(key) is None
    assert storage.size(key) is None
    storage.put(key, b"hello blob")
    assert storage.get(key) == b"hello blob"
    assert storage.size(key) == 10
    storage.delete(key)
    assert storage.get(key) is None
    storage.delete(key)  # deleting twice is fine
    assert storage.ping()


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "/abs", "a/../../b", "", "a//b", "a\\b", "x" * 400, "symbolsets/..", "symbolsets/a\n"]
)
def test_keys_cannot_escape_the_store(key: str, local: LocalBlobStorage) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)
    with pytest.raises(InvalidKey):
        local.put(key, b"x")


def test_local_upload_signature_binds_key_expiry_and_size(local: LocalBlobStorage) -> None:
    target = local.upload_target("symbolsets/one", max_bytes=1234)
    fields = target["fields"]
    assert target["url"] == "http://faultline.test/_blobs/upload/"
    assert local.verify_upload(fields) == ("symbolsets/one", 1234)
    for name, value in [("key", "symbolsets/two"), ("max_bytes", "999999"), ("expires", str(int(time.time()) + 9999))]:
        with pytest.raises(PermissionError, match="Invalid upload signature"):
            local.verify_upload({**fields, name: value})
    other = LocalBlobStorage(local.root, public_url=local.public_url, secret="t" * 32)
    with pytest.raises(PermissionError):
        other.verify_upload(fields)


def test_local_signatures_expire(local: LocalBlobStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = local.upload_target("symbolsets/one")["fields"]
    url = httpx.URL(local.download_url("symbolsets/one"))
    later = time.time() + 4000
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(PermissionError, match="expired"):
        local.verify_upload(fields)
    with pytest.raises(PermissionError, match="expired"):
        local.verify_download(url.params["key"], url.params["expires"], url.params["signature"])


def test_s3_presigned_post_and_get_work_against_the_server(s3: S3BlobStorage) -> None:
    key = new_key()
    target = s3.upload_target(key, max_bytes=64)
    assert target["fields"]["key"] == f"faultline/prefix/{key}"
    ok = httpx.post(target["url"], data=target["fields"], files={"file": ("file", b"x" * 10)})
    assert ok.status_code in (200, 204), ok.text
    assert s3.get(key) == b"x" * 10
    assert httpx.get(s3.download_url(key)).content == b"x" * 10
    # moto does not enforce POST policies, so check the signed policy itself: size range and expiry.
    policy = orjson.loads(base64.b64decode(target["fields"]["policy"]))
    assert ["content-length-range", 0, 64] in policy["conditions"]
    expires = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 250 <= (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 301


def test_settings_choose_the_backend(tmp_path: Path, s3_endpoint: str) -> None:
    local = storage_from_settings(make_settings(tmp_path / "d"))
    assert isinstance(local, LocalBlobStorage)
    assert local.root == tmp_path / "d" / "blobs"
    s3 = storage_from_settings(
        make_settings(
            tmp_path / "e",
            FAULTLINE_BLOB_URL="s3://bucket/some/prefix",
            FAULTLINE_S3_ENDPOINT_URL=s3_endpoint,
            **S3_ENV,
        )
    )
    assert isinstance(s3, S3BlobStorage)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
