"""The symbol-set REST API: every upload rule and error code of spec §2.4/§2.4.1, listing, deletion, tenancy."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.accounts import service as accounts
from faultline.db import utcnow
from faultline.jobs.models import BackgroundJob
from faultline.releases.models import Release
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.symbols.runtime import runtime_for
from tests.symbols.support import CHUNK_ID, resolve_frame, sample_blob, sample_frames, sha512

BLOB = sample_blob()
HASH = sha512(BLOB)


def base(tenant, prefix: str = "environments") -> str:
    return f"/api/{prefix}/{tenant.project.id}/error_tracking/symbol_sets"


def start(client, tenant, sets: list[dict[str, Any]], **extra: Any):
    return client.post(
        f"{base(tenant)}/bulk_start_upload/", json={"symbol_sets": sets, **extra}, headers=tenant.headers
    )


def post_file(client, target: dict[str, Any], data: bytes):
    return client.post(target["url"], data=target["fields"], files={"file": ("file", data)})


def finish(client, tenant, hashes: dict[str, str]):
    return client.post(f"{base(tenant)}/bulk_finish_upload/", json={"content_hashes": hashes}, headers=tenant.headers)


def upload(client, tenant, chunk_id: str = CHUNK_ID, data: bytes = BLOB, release_id: str | None = None) -> str:
    response = start(client, tenant, [{"chunk_id": chunk_id, "release_id": release_id, "content_hash": sha512(data)}])
    assert response.status_code == 201, response.text
    entry = response.json()["id_map"][chunk_id]
    assert post_file(client, entry["presigned_url"], data).status_code == 204
    assert finish(client, tenant, {entry["symbol_set_id"]: sha512(data)}).status_code == 201
    return entry["symbol_set_id"]


def make_release(db, tenant, version: str = "1.0.0", commit: str = "abc123def") -> str:
    with db.write() as session:
        release = Release(
            project_id=tenant.project.id,
            hash_id=uuid.uuid4().hex,
            version=version,
            project_name="shop-web",
            metadata_={"git": {"commit_id": commit}},
        )
        session.add(release)
    return str(release.id)


def error(response, status: int, code: str, attr: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert set(body) >= {"type", "code", "detail", "attr"}
    if attr is not None:
        assert body["attr"] == attr
    return body


# ---------------------------------------------------------------------------------------------------------------------
# The bulk upload flow


def test_bulk_flow_creates_a_confirmed_set(client, seed) -> None:
    symbol_set_id = upload(client, seed)
    item = client.get(f"{base(seed)}/{symbol_set_id}/", headers=seed.headers).json()
    assert item["ref"] == CHUNK_ID and item["has_uploaded_file"] is True
    assert item["team_id"] == seed.project.id and item["failure_reason"] is None and item["release"] is None
    assert set(item) == {
        "id",
        "ref",
        "team_id",
        "created_at",
        "last_used",
        "failure_reason",
        "has_uploaded_file",
        "release",
    }
    # Uploading the same content again: nothing to do.
    again = start(client, seed, [{"chunk_id": CHUNK_ID, "release_id": None, "content_hash": HASH}])
    assert again.status_code == 201 and again.json() == {"id_map": {}}
    check = client.post(
        f"{base(seed)}/bulk_check_upload/",
        json={"symbol_sets": [{"chunk_id": CHUNK_ID, "content_hash": HASH}, {"chunk_id": "new", "content_hash": "x"}]},
        headers=seed.headers,
    )
    assert check.status_code == 200 and check.json() == {"chunk_ids_to_upload": ["new"]}


def test_bulk_check_creates_nothing(app, client, seed) -> None:
    response = client.post(
        f"{base(seed)}/bulk_check_upload/",
        json={"symbol_sets": [{"chunk_id": "a", "content_hash": "h"}], "force": False, "skip_on_conflict": False},
        headers=seed.headers,
    )
    assert response.json() == {"chunk_ids_to_upload": ["a"]}
    assert client.get(f"{base(seed)}/", headers=seed.headers).json()["count"] == 0


def test_conflict_rules(client, seed) -> None:
    upload(client, seed)
    changed = {"chunk_id": CHUNK_ID, "release_id": None, "content_hash": "f" * 128}
    error(start(client, seed, [changed]), 400, "content_hash_mismatch")
    error(
        client.post(f"{base(seed)}/bulk_check_upload/", json={"symbol_sets": [changed]}, headers=seed.headers),
        400,
        "content_hash_mismatch",
    )
    assert start(client, seed, [changed], skip_on_conflict=True).json() == {"id_map": {}}
    error(start(client, seed, [changed], force=True, skip_on_conflict=True), 400, "invalid_conflict_handling")
    error(start(client, seed, [{"chunk_id": CHUNK_ID, "content_hash": None}]), 400, "content_hash_required")
    forced = start(client, seed, [changed], force=True)
    assert forced.status_code == 201
    entry = forced.json()["id_map"][CHUNK_ID]
    item = client.get(f"{base(seed)}/{entry['symbol_set_id']}/", headers=seed.headers).json()
    assert item["id"] == entry["symbol_set_id"]  # same set, new upload slot


def test_validation_errors(app, client, seed, other_tenant) -> None:
    error(start(client, seed, [{"chunk_id": "a"}, {"chunk_id": "a"}]), 400, "invalid_chunk_ids")
    error(start(client, seed, [{"chunk_id": "a", "release_id": "not-a-uuid"}]), 400, "invalid_release_id")
    error(start(client, seed, [{"chunk_id": "a", "release_id": str(uuid.uuid4())}]), 400, "invalid_release_id")
    foreign = make_release(app.state.db, other_tenant)
    error(start(client, seed, [{"chunk_id": "a", "release_id": foreign}]), 400, "invalid_release_id")
    body = error(
        start(client, seed, [{"chunk_id": "a", "content_length": 100 * 1024 * 1024 + 1}]), 400, "file_too_large"
    )
    assert "a" in body["detail"]
    error(start(client, seed, [{"chunk_id": ""}]), 400, "blank", "symbol_sets__0__chunk_id")
    error(start(client, seed, [{"chunk_id": "x" * 3000}]), 400, "max_length", "symbol_sets__0__chunk_id")
    deprecated = client.post(f"{base(seed)}/start_upload/?chunk_id=a%00b", headers=seed.headers)
    error(deprecated, 400, "invalid_chunk_ids", "chunk_id")
    error(start(client, seed, [{"release_id": None}]), 400, "required", "symbol_sets__0__chunk_id")
    error(start(client, seed, [{"chunk_id": "a", "content_hash": "h" * 129}]), 400, "max_length")
    error(start(client, seed, [{"chunk_id": "a", "content_length": -1}]), 400, "min_value")
    response = client.post(
        f"{base(seed)}/bulk_start_upload/",
        content=b"{not json",
        headers={**seed.headers, "Content-Type": "application/json"},
    )
    error(response, 400, "parse_error")
    response = client.post(f"{base(seed)}/bulk_start_upload/", json=["a"], headers=seed.headers)
    assert response.status_code == 400
    assert client.get(f"{base(seed)}/", headers=seed.headers).json()["count"] == 0
    # Neither database can store a NUL (PostgreSQL) or a lone surrogate (SQLite's driver): in a JSON body every REST
    # string is cleaned to U+FFFD before validation (faultline.http.storable); in the deprecated query form, a 400.
    for odd in ("a\x00b", "a\ud800b"):
        for body in ({"symbol_sets": [{"chunk_id": odd}]}, {"chunk_ids": [odd]}):
            response = client.post(
                f"{base(seed)}/bulk_start_upload/",
                content=json.dumps(body).encode(),  # escapes the lone surrogate as JSON allows (`\ud800`)
                headers={**seed.headers, "Content-Type": "application/json"},
            )
            assert response.status_code == 201, response.text
            assert list(response.json()["id_map"]) == ["a\ufffdb"]


def test_release_binding(app, client, seed) -> None:
    first = make_release(app.state.db, seed, "1.0.0")
    second = make_release(app.state.db, seed, "2.0.0")
    upload(client, seed, "orphan")
    # An orphan set may join a release…
    bound = start(client, seed, [{"chunk_id": "orphan", "release_id": first, "content_hash": HASH}])
    assert bound.status_code == 201
    item = client.get(f"{base(seed)}/?ref=orphan", headers=seed.headers).json()["results"][0]
    assert item["release"]["id"] == first and item["release"]["version"] == "1.0.0"
    assert item["release"]["metadata"] == {"git": {"commit_id": "abc123def"}}
    # …but never moves to another one.
    error(
        start(client, seed, [{"chunk_id": "orphan", "release_id": second, "content_hash": HASH}]),
        400,
        "release_id_mismatch",
    )


def test_legacy_chunk_ids_form(app, client, seed) -> None:
    release = make_release(app.state.db, seed)
    response = client.post(
        f"{base(seed)}/bulk_start_upload/",
        json={"chunk_ids": ["l1", "l2"], "release_id": release},
        headers=seed.headers,
    )
    assert response.status_code == 201 and set(response.json()["id_map"]) == {"l1", "l2"}
    listed = client.get(f"{base(seed)}/?search=l", headers=seed.headers).json()["results"]
    assert {item["release"]["id"] for item in listed} == {release}


def test_bulk_finish_rules(client, seed, monkeypatch) -> None:
    error(finish(client, seed, None), 400, "required", "content_hashes")  # type: ignore[arg-type]
    assert finish(client, seed, {}).status_code == 201
    error(finish(client, seed, {str(uuid.uuid4()): HASH}), 400, "symbol_set_not_found")
    error(finish(client, seed, {"nope": HASH}), 400, "symbol_set_not_found")
    entry = start(client, seed, [{"chunk_id": "pending", "content_hash": HASH}]).json()["id_map"]["pending"]
    set_id = entry["symbol_set_id"]
    error(finish(client, seed, {set_id: HASH}), 400, "file_not_found")
    assert post_file(client, entry["presigned_url"], BLOB).status_code == 204
    error(finish(client, seed, {set_id: "0" * 128}), 400, "content_hash_mismatch")
    pending = client.get(f"{base(seed)}/{set_id}/", headers=seed.headers).json()
    assert pending["has_uploaded_file"] is True  # still there, so a retry can finish it
    assert finish(client, seed, {set_id: HASH}).status_code == 201


def test_bulk_finish_deletes_an_empty_upload(app, client, seed) -> None:
    entry = start(client, seed, [{"chunk_id": "empty", "content_hash": HASH}]).json()["id_map"]["empty"]
    assert post_file(client, entry["presigned_url"], b"").status_code == 204
    error(finish(client, seed, {entry["symbol_set_id"]: HASH}), 400, "file_too_large")
    # The deletion committed even though the request failed.
    assert client.get(f"{base(seed)}/{entry['symbol_set_id']}/", headers=seed.headers).status_code == 404


def test_confirmed_upload_revives_a_negative_row_and_drops_its_frames(app, client, seed) -> None:
    db = app.state.db
    runtime = runtime_for(app.state)
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, sample_frames()[-1])
    assert result.contents["resolved"] is False
    with db.write() as session:
        session.add(
            StackFrame(
                project_id=seed.project.id,
                raw_id="f" * 128,
                symbol_set_id=result.symbol_set_id,
                contents=result.contents,
                resolved=False,
            )
        )
    negative = client.get(f"{base(seed)}/?status=invalid", headers=seed.headers).json()["results"]
    assert [n["ref"] for n in negative] == [CHUNK_ID]
    assert negative[0]["failure_reason"] == f"No sourcemap uploaded for chunk id: {CHUNK_ID}"
    symbol_set_id = upload(client, seed)
    assert symbol_set_id == negative[0]["id"]
    item = client.get(f"{base(seed)}/{symbol_set_id}/", headers=seed.headers).json()
    assert item["failure_reason"] is None and item["has_uploaded_file"] is True
    with db.read() as session:
        frames = session.scalar(
            sa.select(sa.func.count()).select_from(StackFrame).where(StackFrame.project_id == seed.project.id)
        )
        job = session.scalar(sa.select(BackgroundJob).where(BackgroundJob.project_id == seed.project.id))
    assert frames == 0
    assert job.kind == "symbol_repair" and job.params["ref"] == CHUNK_ID and job.status == "pending"
    jobs = client.get(f"{base(seed)}/repair_jobs/?symbol_set={symbol_set_id}", headers=seed.headers).json()
    assert jobs["count"] == 1 and jobs["results"][0]["progress"]["repaired"] == 0
    # The resolver in this process forgot the negative answer at once.
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, sample_frames()[-1])
    assert result.contents["resolved_name"] == "validateCart"


# ---------------------------------------------------------------------------------------------------------------------
# Listing, retrieval, deletion, download


def test_list_filters_and_ordering(app, client, seed) -> None:
    release = make_release(app.state.db, seed, "9.9.9-beta", commit="feedface")
    upload(client, seed, "alpha")
    upload(client, seed, "beta", release_id=release)
    start(client, seed, [{"chunk_id": "gamma_50%"}])
    with app.state.db.write() as session:
        session.add(SymbolSet(project_id=seed.project.id, ref="delta", failure_reason="nope"))

    def refs(query: str) -> list[str]:
        response = client.get(f"{base(seed)}/{query}", headers=seed.headers)
        assert response.status_code == 200, response.text
        return [item["ref"] for item in response.json()["results"]]

    assert refs("?order_by=ref") == ["alpha", "beta", "delta", "gamma_50%"]
    assert refs("?order_by=-ref") == ["gamma_50%", "delta", "beta", "alpha"]
    assert refs("") == ["delta", "gamma_50%", "beta", "alpha"]  # newest first
    assert refs("?ref=beta") == ["beta"]
    assert refs("?search=BET") == ["beta"]
    assert refs("?search=9.9.9") == ["beta"]
    assert refs("?search=feedf") == ["beta"]
    assert refs("?search=shop-web") == ["beta"]
    assert refs("?search=50%25") == ["gamma_50%"]
    assert refs("?search=_") == ["gamma_50%"]  # wildcards are literal
    assert refs("?status=invalid") == ["delta"]
    assert sorted(refs("?status=valid")) == ["alpha", "beta", "gamma_50%"]
    error(client.get(f"{base(seed)}/?order_by=storage_ptr", headers=seed.headers), 400, "invalid_choice", "order_by")
    error(client.get(f"{base(seed)}/?status=broken", headers=seed.headers), 400, "invalid_choice", "status")
    page = client.get(f"{base(seed)}/?limit=1000", headers=seed.headers).json()
    assert page["count"] == 4 and len(page["results"]) == 4 and page["next"] is None
    paged = client.get(f"{base(seed)}/?limit=2&order_by=ref", headers=seed.headers).json()
    assert [i["ref"] for i in paged["results"]] == ["alpha", "beta"] and "offset=2" in paged["next"]


def test_retrieve_update_delete(app, client, seed, other_tenant) -> None:
    runtime = runtime_for(app.state)
    symbol_set_id = upload(client, seed)
    with app.state.db.read() as session:
        key = session.get(SymbolSet, uuid.UUID(symbol_set_id)).storage_ptr
    assert runtime.storage.get(key) == BLOB
    for method in ("put", "patch"):
        response = getattr(client, method)(
            f"{base(seed)}/{symbol_set_id}/", json={"ref": "changed"}, headers=seed.headers
        )
        assert response.status_code == 200 and response.json()["ref"] == CHUNK_ID
    for bad in (str(uuid.uuid4()), "not-a-uuid"):
        assert client.get(f"{base(seed)}/{bad}/", headers=seed.headers).status_code == 404
    assert client.get(f"{base(other_tenant)}/{symbol_set_id}/", headers=other_tenant.headers).status_code == 404
    assert client.delete(f"{base(other_tenant)}/{symbol_set_id}/", headers=other_tenant.headers).status_code == 404
    with app.state.db.write() as session:
        for resolved, raw in ((True, "a" * 128), (False, "b" * 128)):
            session.add(
                StackFrame(
                    project_id=seed.project.id,
                    raw_id=raw,
                    symbol_set_id=uuid.UUID(symbol_set_id),
                    contents={},
                    resolved=resolved,
                )
            )
    assert client.delete(f"{base(seed)}/{symbol_set_id}/", headers=seed.headers).status_code == 204
    assert client.get(f"{base(seed)}/{symbol_set_id}/", headers=seed.headers).status_code == 404
    assert runtime.storage.get(key) is None
    with app.state.db.read() as session:
        kept = session.scalars(sa.select(StackFrame).where(StackFrame.project_id == seed.project.id)).all()
    assert [(f.resolved, f.symbol_set_id) for f in kept] == [(True, None)]  # resolved frames stay for the UI


def test_bulk_delete(client, seed, other_tenant) -> None:
    mine = [upload(client, seed, f"c{i}") for i in range(3)]
    theirs = upload(client, other_tenant, "t0")
    error(client.post(f"{base(seed)}/bulk_delete/", json={}, headers=seed.headers), 400, "required", "ids")
    error(client.post(f"{base(seed)}/bulk_delete/", json={"ids": "x"}, headers=seed.headers), 400, "not_a_list", "ids")
    error(
        client.post(f"{base(seed)}/bulk_delete/", json={"ids": ["x"]}, headers=seed.headers),
        400,
        "invalid_input",
        "ids",
    )
    too_many = {"ids": [str(uuid.uuid4()) for _ in range(5001)]}
    error(client.post(f"{base(seed)}/bulk_delete/", json=too_many, headers=seed.headers), 400, "max_length", "ids")
    response = client.post(f"{base(seed)}/bulk_delete/", json={"ids": [*mine[:2], theirs]}, headers=seed.headers)
    assert response.json() == {"deleted": 2}
    assert [i["id"] for i in client.get(f"{base(seed)}/", headers=seed.headers).json()["results"]] == [mine[2]]
    assert client.get(f"{base(other_tenant)}/{theirs}/", headers=other_tenant.headers).status_code == 200


def test_download(client, seed) -> None:
    symbol_set_id = upload(client, seed)
    url = client.get(f"{base(seed)}/{symbol_set_id}/download/", headers=seed.headers).json()["url"]
    assert client.get(url).content == BLOB
    assert client.get(url.replace("signature=", "signature=0")).status_code == 403
    with_no_file = start(client, seed, [{"chunk_id": "nofile"}]).json()["id_map"]["nofile"]["symbol_set_id"]
    # A started upload has a storage slot but no object yet; a negative row has none at all.
    assert client.get(f"{base(seed)}/{with_no_file}/download/", headers=seed.headers).status_code == 200
    client.post(f"{base(seed)}/bulk_delete/", json={"ids": [with_no_file]}, headers=seed.headers)


def test_download_of_a_negative_row(app, client, seed) -> None:
    with app.state.db.write() as session:
        row = SymbolSet(project_id=seed.project.id, ref="neg", failure_reason="No sourcemap uploaded for chunk id: neg")
        session.add(row)
    response = client.get(f"{base(seed)}/{row.id}/download/", headers=seed.headers)
    assert response.status_code == 404 and response.json()["detail"] == "Symbol set has no uploaded file."


# ---------------------------------------------------------------------------------------------------------------------
# Deprecated flows


def test_direct_upload_multipart_and_raw(app, client, seed) -> None:
    error(client.post(f"{base(seed)}/", files={"file": ("file", BLOB)}, headers=seed.headers), 400, "required")
    response = client.post(
        f"{base(seed)}/?chunk_id=direct&multipart=true", files={"file": ("file", BLOB)}, headers=seed.headers
    )
    assert response.status_code == 201 and response.json() == {"ok": True}
    response = client.post(f"{base(seed)}/?chunk_id=raw", content=BLOB, headers=seed.headers)
    assert response.status_code == 201
    with app.state.db.read() as session:
        rows = {r.ref: r for r in session.scalars(sa.select(SymbolSet).where(SymbolSet.project_id == seed.project.id))}
    assert rows["direct"].content_hash == HASH == rows["raw"].content_hash
    assert runtime_for(app.state).storage.get(rows["raw"].storage_ptr) == BLOB
    error(client.post(f"{base(seed)}/?chunk_id=e", content=b"", headers=seed.headers), 400, "empty")
    error(
        client.post(f"{base(seed)}/?chunk_id=e&release_id={uuid.uuid4()}", content=BLOB, headers=seed.headers),
        400,
        "invalid_release_id",
    )


def test_direct_upload_size_cap(client, seed, monkeypatch) -> None:
    from faultline.symbols import router as symbols_router

    monkeypatch.setattr(symbols_router, "MAX_SYMBOL_SET_BYTES", 1000)
    error(client.post(f"{base(seed)}/?chunk_id=big", content=b"x" * 1001, headers=seed.headers), 400, "file_too_large")
    error(
        client.post(f"{base(seed)}/?chunk_id=big", files={"file": ("file", b"x" * 1001)}, headers=seed.headers),
        400,
        "file_too_large",
    )
    assert client.get(f"{base(seed)}/?ref=big", headers=seed.headers).json()["count"] == 0


def test_direct_upload_release_mismatch(app, client, seed) -> None:
    first, second = make_release(app.state.db, seed, "1"), make_release(app.state.db, seed, "2")
    assert (
        client.post(f"{base(seed)}/?chunk_id=r&release_id={first}", content=BLOB, headers=seed.headers).status_code
        == 201
    )
    error(
        client.post(f"{base(seed)}/?chunk_id=r&release_id={second}", content=BLOB, headers=seed.headers),
        400,
        "release_id_mismatch",
    )


def test_uploads_leave_last_used_null_until_an_event_uses_the_set(client, db, seed) -> None:
    """PostHog sets `last_used` when symbolication uses a set, not when it is uploaded or re-uploaded."""
    bulk_id = upload(client, seed)
    started = client.post(f"{base(seed)}/start_upload/?chunk_id=old-cli", headers=seed.headers).json()
    assert post_file(client, started["presigned_url"], BLOB).status_code == 204
    finished = client.put(
        f"{base(seed)}/{started['symbol_set_id']}/finish_upload/", json={"content_hash": HASH}, headers=seed.headers
    )
    assert finished.status_code == 200
    # CI re-uploading the same content (skipped) does not mark a never-used set as used either.
    assert start(client, seed, [{"chunk_id": CHUNK_ID, "content_hash": HASH}]).json() == {"id_map": {}}
    check = client.post(
        f"{base(seed)}/bulk_check_upload/",
        json={"symbol_sets": [{"chunk_id": CHUNK_ID, "content_hash": HASH}]},
        headers=seed.headers,
    )
    assert check.json() == {"chunk_ids_to_upload": []}
    for set_id in (bulk_id, started["symbol_set_id"]):
        assert client.get(f"{base(seed)}/{set_id}/", headers=seed.headers).json()["last_used"] is None

    # Once an event used it, a re-upload more than 12 h later keeps it fresh (retention must not drop it).
    long_ago = utcnow() - dt.timedelta(days=3)
    with db.write() as session:
        session.execute(sa.update(SymbolSet).where(SymbolSet.ref == CHUNK_ID).values(last_used=long_ago))
    start(client, seed, [{"chunk_id": CHUNK_ID, "content_hash": HASH}])
    refreshed = client.get(f"{base(seed)}/{bulk_id}/", headers=seed.headers).json()["last_used"]
    assert refreshed is not None and refreshed > long_ago.isoformat()[:10]


def test_start_and_finish_upload(client, seed) -> None:
    error(client.post(f"{base(seed)}/start_upload/", headers=seed.headers), 400, "required")
    started = client.post(f"{base(seed)}/start_upload/?chunk_id=old-cli", headers=seed.headers)
    assert started.status_code == 201
    body = started.json()
    set_id = body["symbol_set_id"]
    url = f"{base(seed)}/{set_id}/finish_upload/"
    error(client.put(url, json={}, headers=seed.headers), 400, "content_hash_required")
    error(client.put(url, json={"content_hash": HASH}, headers=seed.headers), 400, "file_not_found")
    assert post_file(client, body["presigned_url"], BLOB).status_code == 204
    response = client.put(url, json={"content_hash": HASH}, headers=seed.headers)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert client.get(f"{base(seed)}/{set_id}/", headers=seed.headers).json()["has_uploaded_file"] is True
    assert (
        client.put(
            f"{base(seed)}/{uuid.uuid4()}/finish_upload/", json={"content_hash": HASH}, headers=seed.headers
        ).status_code
        == 404
    )


# ---------------------------------------------------------------------------------------------------------------------
# The signed local upload URL


def test_local_upload_url_is_checked_before_the_body_is_accepted(client, seed) -> None:
    entry = start(client, seed, [{"chunk_id": "signed"}]).json()["id_map"]["signed"]
    target = entry["presigned_url"]
    forged = {**target, "fields": {**target["fields"], "key": "symbolsets/someone-else"}}
    error(post_file(client, forged, BLOB), 403, "permission_denied")
    no_sig = {**target, "fields": {k: v for k, v in target["fields"].items() if k != "signature"}}
    error(post_file(client, no_sig, BLOB), 403, "permission_denied")
    error(client.post(target["url"], data=target["fields"], files={"note": (None, "no file")}), 400, "required")
    error(
        client.post(target["url"], content=b"raw", headers={"Content-Type": "application/json"}),
        415,
        "unsupported_media_type",
    )
    garbage = client.post(
        target["url"], content=b"--zzz\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=zzz"}
    )
    assert garbage.status_code == 400 and "code" in garbage.json()
    assert post_file(client, target, BLOB).status_code == 204


def test_local_upload_respects_the_signed_size(app, client) -> None:
    storage = runtime_for(app.state).storage
    target = storage.upload_target("symbolsets/tiny", max_bytes=16)
    error(post_file(client, target, b"x" * 17), 400, "file_too_large")
    assert storage.get("symbolsets/tiny") is None
    assert post_file(client, target, b"x" * 16).status_code == 204


# ---------------------------------------------------------------------------------------------------------------------
# Auth and routing


def test_scopes_and_tenancy(app, client, seed, other_tenant) -> None:
    with app.state.db.write() as session:
        user = session.merge(seed.user)
        _, read_only = accounts.create_api_key(session, user, label="ro", scopes=["error_tracking:read"])
    headers = {"Authorization": f"Bearer {read_only}"}
    assert client.get(f"{base(seed)}/", headers=headers).status_code == 200
    error(
        client.post(f"{base(seed)}/bulk_start_upload/", json={"symbol_sets": []}, headers=headers),
        403,
        "permission_denied",
    )
    error(client.post(f"{base(seed)}/bulk_delete/", json={"ids": []}, headers=headers), 403, "permission_denied")
    assert client.get(f"{base(seed)}/").status_code == 401
    assert client.get(f"{base(other_tenant)}/", headers=seed.headers).status_code == 404
    # The CLI calls /api/projects/… without a trailing slash.
    response = client.post(
        f"{base(seed, 'projects')}/bulk_start_upload", json={"symbol_sets": [{"chunk_id": "p"}]}, headers=seed.headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"symbol_sets": "nope"},
        {"symbol_sets": [1, 2]},
        {"symbol_sets": [{"chunk_id": 5}]},
        {"symbol_sets": [{"chunk_id": "a", "release_id": 7}]},
        {"force": "maybe"},
        {"symbol_sets": [{"chunk_id": "a"}] * 5001},
    ],
)
def test_hostile_bodies_get_400(client, seed, body: dict[str, Any]) -> None:
    response = client.post(f"{base(seed)}/bulk_start_upload/", json=body, headers=seed.headers)
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"type", "code", "detail", "attr"}
