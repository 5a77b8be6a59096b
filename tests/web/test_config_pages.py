"""Autocapture controls, the exception-autocapture switch, symbol sets (list, failure reasons, upload, delete),
releases and ingestion diagnostics — through the UI, checked against remote config, the resolver and the database."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database
from faultline.pipeline.digest import Pipeline
from faultline.releases import service as releases
from faultline.rules import revisions
from faultline.symbols.models import SymbolSet
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest, load_sample_events
from tests.web.conftest import csrf_from

JS_BUNDLE = Path("/work/shared/samples/js_bundle")
CHUNK_ID = "0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b"


def remote_config(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.get(f"/array/{tenant.project.api_token}/config")
    assert response.status_code == 200
    return response.json()


def errors_in(html: str) -> list[str]:
    return re.findall(r'class="(?:field|form)-error"[^>]*>([^<]*)<', html)


# --------------------------------------------------------------------------------------------------- autocapture


def test_autocapture_controls_reach_remote_config(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    url = f"/project/{seed.project.id}/autocapture"
    token = csrf_from(logged_in.get(url).text)
    response = logged_in.post(
        url,
        data={
            "csrf_token": token,
            "sample_rate": "0.5",
            "url_triggers": "^https://shop\\.example\\.com/\n\n",
            "url_blocklist": "/admin/",
            "event_triggers": "checkout_started\ncheckout_started",
            "match_type": "any",
            "flag_key": "errors-beta",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    controls = remote_config(logged_in, seed)["errorTracking"]["autoCaptureControls"]["web"]
    assert controls["sampleRate"] == 0.5 and controls["matchType"] == "any"
    assert controls["urlTriggers"] == [{"url": "^https://shop\\.example\\.com/", "matching": "regex"}]
    assert controls["urlBlocklist"] == [{"url": "/admin/", "matching": "regex"}]
    assert controls["eventTriggers"] == ["checkout_started"]
    page = logged_in.get(url).text
    assert "checkout_started</textarea>" in page and 'value="errors-beta"' in page

    assert logged_in.post(url + "/delete", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert remote_config(logged_in, seed)["errorTracking"]["autoCaptureControls"] == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sample_rate", "2", "less than or equal to 1"),
        ("sample_rate", "0.125", "no more than 2 decimal places"),
        ("url_triggers", "(unclosed", "Invalid regular expression"),
        ("url_blocklist", "[", "Invalid regular expression"),
        ("match_type", "some", "is not a valid choice"),
        ("event_triggers", "\n".join(f"e{i}" for i in range(101)), "no more than 100 elements"),
    ],
)
def test_autocapture_refuses_bad_input_inline(
    logged_in: TestClient, seed: Tenant, field: str, value: str, message: str
) -> None:
    url = f"/project/{seed.project.id}/autocapture"
    data = {"sample_rate": "1", "match_type": "all", field: value}
    response = logged_in.post(url, data={"csrf_token": csrf_from(logged_in.get(url).text), **data})
    assert response.status_code == 400
    assert any(message in text for text in errors_in(response.text)), errors_in(response.text)
    assert remote_config(logged_in, seed)["errorTracking"]["autoCaptureControls"] == {}


@pytest.mark.parametrize("path", ["autocapture/exceptions", "settings/autocapture"])
def test_exception_switch_goes_through_the_settings_service(
    logged_in: TestClient, seed: Tenant, db: Database, path: str
) -> None:
    with db.read() as session:
        before = revisions.current(session, seed.project.id)
    token = csrf_from(logged_in.get(f"/project/{seed.project.id}/autocapture").text)
    response = logged_in.post(f"/project/{seed.project.id}/{path}", data={"csrf_token": token})
    assert "Exception autocapture disabled" in response.text
    assert remote_config(logged_in, seed)["autocaptureExceptions"] is False
    with db.read() as session:
        assert revisions.current(session, seed.project.id) == before + 1  # caches everywhere refresh


# --------------------------------------------------------------------------------------------------- symbol sets


@pytest.fixture
def pipeline(app) -> Pipeline:
    return Pipeline(app.state.db, symbols=app.state.runtime.symbols.resolver)


def _js_event() -> dict[str, Any]:
    [event] = load_sample_events("posthog_js_exception.json")
    event["uuid"] = str(uuid.uuid4())
    return event


def _upload(client: TestClient, tenant: Tenant, files: dict[str, tuple[str, bytes]], **fields: str):
    token = csrf_from(client.get(f"/project/{tenant.project.id}/symbol-sets").text)
    return client.post(
        f"/project/{tenant.project.id}/symbol-sets/upload",
        data={"csrf_token": token, **fields},
        files=files,
        follow_redirects=False,
    )


def test_failed_lookup_upload_and_resolved_trace(
    logged_in: TestClient, seed: Tenant, db: Database, pipeline: Pipeline
) -> None:
    [first] = ingest(db, seed.project, [_js_event()], pipeline=pipeline)
    page = logged_in.get(f"/project/{seed.project.id}/symbol-sets").text
    assert f'<code class="ref">{CHUNK_ID}</code>' in page
    assert '<span class="badge danger">failed</span>' in page
    with db.read() as session:
        reason = session.execute(sa.select(SymbolSet.failure_reason)).scalar_one()
    assert reason and reason in page
    assert (
        f'<code class="ref">{CHUNK_ID}</code>'
        in logged_in.get(f"/project/{seed.project.id}/symbol-sets?status=invalid").text
    )
    assert CHUNK_ID not in logged_in.get(f"/project/{seed.project.id}/symbol-sets?status=valid").text

    # Upload the built script and its map; the chunk id comes from the script's `//# chunkId=` comment.
    files = {
        "script": ("app.injected.js", (JS_BUNDLE / "app.injected.js").read_bytes()),
        "sourcemap": ("app.injected.js.map", (JS_BUNDLE / "app.injected.js.map").read_bytes()),
    }
    response = _upload(logged_in, seed, files, chunk_id="")
    assert response.status_code == 303, errors_in(response.text)
    page = logged_in.get(response.headers["location"]).text
    assert f"Uploaded the source map for chunk {CHUNK_ID}." in page
    assert '<span class="badge ok">uploaded</span>' in page
    assert "Re-symbolication after uploads" in page and "<code>" + CHUNK_ID in page  # the repair job is listed

    [second] = ingest(db, seed.project, [_js_event()], pipeline=pipeline)
    html = logged_in.get(f"/project/{seed.project.id}/issues/{second.issue_id}").text
    assert '<span class="fn">validateCart</span>' in html and "../src/app.js:4:11" in html
    html = re.sub(r'<span class="tk-[a-z]">([^<]*)</span>', r"\1", html)  # syntax highlighting (web/highlight.py)
    crash = re.findall(r'<span class="ln crash" aria-current="true"><span class="no">(\d+)</span>([^<]*)</span>', html)
    assert ("4", "    throw new TypeError(&#34;Cart is empty: cannot check out &#34; + cart.id);") in crash
    assert first.issue_id  # the unresolved event's issue is a different fingerprint until the repair runs


@pytest.mark.parametrize(
    ("files", "fields", "field", "message"),
    [
        ({}, {}, "sourcemap", "Choose the source map"),
        ({"sourcemap": ("x.map", b"not json")}, {}, "sourcemap", "not valid JSON"),
        ({"sourcemap": ("x.map", b'{"version": 3}')}, {}, "sourcemap", 'no "mappings"'),
        (
            {"sourcemap": ("x.map", b'{"version": 3, "sources": [], "mappings": ""}')},
            {},
            "chunk_id",
            "No chunk id found",
        ),
        ({"bundle": ("x.bin", b"PK\x03\x04zip")}, {"chunk_id": "c1"}, "bundle", "Unsupported symbol set format"),
        (
            {
                "bundle": (
                    "x.bin",
                    (Path("/work/shared/samples") / "posthog_symbol_set_sourceandmap_v2.bin").read_bytes(),
                )
            },
            {},
            "chunk_id",
            "Enter the chunk id",
        ),
        (
            {"sourcemap": ("x.map", (JS_BUNDLE / "app.injected.js.map").read_bytes())},
            {"chunk_id": "x" * 3000},
            "chunk_id",
            "chunk_id must be at most",
        ),
    ],
)
def test_upload_refusals_are_inline(
    logged_in: TestClient, seed: Tenant, db: Database, files: dict, fields: dict, field: str, message: str
) -> None:
    response = _upload(logged_in, seed, files or {"script": ("", b"")}, **fields)
    assert response.status_code == 400
    wanted = message.replace('"', "&#34;")
    assert re.search(rf'id="err-{field}" role="alert">[^<]*{re.escape(wanted)}', response.text), errors_in(
        response.text
    )
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(SymbolSet)).scalar_one() == 0


def test_posthog_cli_symbol_set_file_and_delete(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    blob = (Path("/work/shared/samples") / "posthog_symbol_set_sourceandmap_v2.bin").read_bytes()
    response = _upload(logged_in, seed, {"bundle": ("chunk.bin", blob)}, chunk_id="cli-chunk")
    assert response.status_code == 303
    with db.read() as session:
        row = session.execute(sa.select(SymbolSet)).scalar_one()
    assert row.ref == "cli-chunk" and row.content_hash is not None
    token = csrf_from(logged_in.get(f"/project/{seed.project.id}/symbol-sets").text)
    response = logged_in.post(
        f"/project/{seed.project.id}/symbol-sets/{row.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    with db.read() as session:
        assert session.execute(sa.select(SymbolSet)).first() is None
    response = logged_in.post(
        f"/project/{seed.project.id}/symbol-sets/{row.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 404


def test_upload_needs_csrf_session_and_size(logged_in: TestClient, seed: Tenant, client: TestClient) -> None:
    url = f"/project/{seed.project.id}/symbol-sets/upload"
    files = {"sourcemap": ("x.map", b"{}")}
    assert logged_in.post(url, data={"csrf_token": "forged"}, files=files).status_code == 403
    assert logged_in.post(url, data={"chunk_id": "x"}, files=files).status_code == 403
    not_multipart = logged_in.post(url, data={"csrf_token": "forged"})
    assert not_multipart.status_code == 415
    huge = logged_in.post(
        url, content=b"x", headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(10**10)}
    )
    assert huge.status_code == 413
    garbage = logged_in.post(
        url, content=b"--b\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert garbage.status_code in (400, 403)
    logged_out = TestClient(logged_in.app).post(url, files=files, follow_redirects=False)
    assert logged_out.status_code == 303 and "/login" in logged_out.headers["location"]


# --------------------------------------------------------------------------------------------------- releases


def test_releases_list_and_delete(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.write() as session:
        release = releases.create(
            session,
            seed.project.id,
            version="2.4.1",
            project="shop-web",
            metadata={"git": {"commit_id": "abcdef1234567890", "branch": "main"}},
        )
        session.add(SymbolSet(project_id=seed.project.id, ref="chunk-a", release_id=release.id, storage_ptr="k"))
        release_id = release.id
    page = logged_in.get(f"/project/{seed.project.id}/releases").text
    assert "<strong>2.4.1</strong>" in page and "<code>abcdef123456</code>" in page and "shop-web" in page
    assert re.search(r'data-label="Symbol sets">1</td>', page)
    token = csrf_from(page)
    response = logged_in.post(
        f"/project/{seed.project.id}/releases/{release_id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "No releases yet" in logged_in.get(f"/project/{seed.project.id}/releases").text
    with db.read() as session:
        assert session.execute(sa.select(SymbolSet)).first() is None  # deleted with its release, as in PostHog
    bogus = logged_in.post(f"/project/{seed.project.id}/releases/nope/delete", data={"csrf_token": token})
    assert bogus.status_code == 404


# --------------------------------------------------------------------------------------------------- ingestion


def test_ingestion_page_counts_and_errors(logged_in: TestClient, client: TestClient, seed: Tenant) -> None:
    empty = logged_in.get(f"/project/{seed.project.id}/ingestion").text
    assert "No events received" in empty
    token = seed.project.api_token
    good = client.post("/batch/", json={"api_key": token, "batch": [exception_event("TypeError", "boom")]})
    bad = client.post(
        "/batch/", json={"api_key": token, "batch": [{"event": "$exception", "properties": {"$exception_list": [{}]}}]}
    )
    assert good.status_code == 200 and bad.status_code == 400
    client.app.state.ingest.diagnostics.flush(client.app.state.db)
    page = logged_in.get(f"/project/{seed.project.id}/ingestion").text
    assert re.search(r'data-counter="received">1<', page) and re.search(r'data-counter="rejected_invalid">1<', page)
    assert "<code>invalid_event</code>" in page and "batch__0__properties__$exception_list__0__type" in page
    assert "No events received" not in page
    assert logged_in.get(f"/project/{seed.project.id}/ingestion?days=30").status_code == 200
    assert logged_in.get(f"/project/{seed.project.id}/ingestion?days=-1").status_code == 200  # falls back to 7


def test_ingestion_page_says_why_ingestion_is_degraded(logged_in: TestClient, client: TestClient, seed: Tenant) -> None:
    """A real SQLITE_FULL in-process (the queue file may not grow), without root; the live version with a full
    tmpfs is tests/e2e/test_disk_full.py."""
    token = seed.project.api_token
    assert client.post("/batch/", json={"api_key": token, "batch": [exception_event()]}).status_code == 200
    queue = client.app.state.ingest.queue
    pages = queue._write_conn.execute("PRAGMA page_count").fetchone()[0]
    queue._write_conn.execute(f"PRAGMA max_page_count = {pages}")
    try:
        big = {"api_key": token, "batch": [exception_event("Full", "x" * 20_000)]}
        refused = client.post("/batch/", json=big)
        assert (refused.status_code, refused.json()["code"]) == (503, "disk_full")
        health = client.get("/_health")
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        page = logged_in.get(f"/project/{seed.project.id}/ingestion").text
        assert 'data-health="degraded"' in page and 'data-reason="disk_full"' in page
        assert "disk full: the queue&#39;s SQLite file cannot grow" in page
    finally:
        queue._write_conn.execute("PRAGMA max_page_count = 1073741823")
    assert client.post("/batch/", json={"api_key": token, "batch": [exception_event()]}).status_code == 200
    assert client.get("/_health").json()["status"] == "ok"
    assert "Ingestion is degraded" not in logged_in.get(f"/project/{seed.project.id}/ingestion").text


def test_config_pages_of_other_organizations_are_404(logged_in: TestClient, other_tenant: Tenant) -> None:
    for path in ("autocapture", "symbol-sets", "releases", "ingestion", "rules/grouping"):
        assert logged_in.get(f"/project/{other_tenant.project.id}/{path}").status_code == 404, path
