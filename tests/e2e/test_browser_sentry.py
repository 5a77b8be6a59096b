"""Real `@sentry/browser` (npm, the published ES modules, no bundler) in headless Chromium against the real server:
an uncaught error in a minified bundle is sent with the DSN's query-string auth, its frames carry the bundle's
debug id (`debug_meta.images`), and a source map uploaded under that debug id through the PostHog symbol-set API
turns them back into the original names and lines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event, Issue
from faultline.symbols import blobformat
from tests.support.browser import USER_AGENT, PageServer, ensure_npm_packages, esm_site
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BUNDLE = Path("/work/shared/samples/js_bundle")
DEBUG_ID = "0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b"
# What `sentry-cli sourcemaps inject` adds to a bundle, in our words: register this file's stack under its debug
# id, so the SDK can name the debug id of every frame from this file. Appended after the code, so the positions
# of the minified line (and its source map) stay as they are.
DEBUG_ID_SNIPPET = (
    '\n!function(){try{var g="undefined"!=typeof window?window:globalThis,s=(new g.Error).stack;'
    's&&(g._sentryDebugIds=g._sentryDebugIds||{},g._sentryDebugIds[s]="DEBUG_ID")}catch(e){}}();\n'
).replace("DEBUG_ID", DEBUG_ID)

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">%(importmap)s</script>
<script src="/static/app.min.js"></script>
<script type="module">
  import * as Sentry from "@sentry/browser";
  Sentry.init({ dsn: %(dsn)s, release: "web@3.1.4", environment: "e2e" });
  window.sentryReady = true;
  window.crash = function () {
    setTimeout(function () { checkout({ id: "cart-9", items: [] }); }, 0);
  };
</script></head><body>shop</body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, live_server: LiveServer) -> Iterator[PageServer]:
    ensure_npm_packages()
    imports, files = esm_site("@sentry/browser")
    app_js = tmp_path_factory.mktemp("site") / "app.min.js"
    app_js.write_bytes((BUNDLE / "app.injected.js").read_bytes() + DEBUG_ID_SNIPPET.encode())
    files["/static/app.min.js"] = app_js
    html = PAGE % {
        "importmap": json.dumps({"imports": imports}),
        "dsn": json.dumps(live_server.credentials()["dsn"]),
    }
    pages = PageServer(pages={"/index.html": html}, files=files).start()
    yield pages
    pages.stop()


def upload_symbol_set(server: LiveServer, creds: dict[str, str], ref: str) -> None:
    """The bundle's source and map as a symbol set whose ref is the debug id (posthog-cli's upload flow)."""
    source = (BUNDLE / "app.injected.js").read_bytes()
    sourcemap = (BUNDLE / "app.injected.js.map").read_bytes()
    blob = blobformat.write(blobformat.DataType.SOURCE_AND_MAP, blobformat.encode_source_and_map(source, sourcemap))
    digest = hashlib.sha512(blob).hexdigest()
    headers = {"Authorization": f"Bearer {creds['api_key']}"}
    base = f"{server.url}/api/environments/{creds['project_id']}/error_tracking/symbol_sets"
    started = httpx.post(
        f"{base}/bulk_start_upload/",
        headers=headers,
        json={"symbol_sets": [{"chunk_id": ref, "release_id": None, "content_hash": digest}]},
        timeout=60,
    )
    assert started.status_code == 201, started.text
    entry = started.json()["id_map"][ref]
    target = entry["presigned_url"]
    uploaded = httpx.post(target["url"], data=target["fields"], files={"file": ("file", blob)}, timeout=60)
    assert uploaded.status_code == 204, uploaded.text
    done = httpx.post(
        f"{base}/bulk_finish_upload/",
        headers=headers,
        json={"content_hashes": {entry["symbol_set_id"]: digest}},
        timeout=60,
    )
    assert done.status_code == 201, done.text


def test_uncaught_error_with_debug_id_resolves(
    site: PageServer, chromium: Any, live_server: LiveServer, live_db: Database
) -> None:
    creds = live_server.credentials()
    upload_symbol_set(live_server, creds, DEBUG_ID)
    context = chromium.new_context(user_agent=USER_AGENT)
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/envelope/" in r.url else None)
    page.goto(f"{site.url}/index.html")
    page.wait_for_function("window.sentryReady === true", timeout=20_000)
    page.evaluate("window.crash()")

    def issue() -> Issue | None:
        with live_db.read() as s:
            return s.execute(sa.select(Issue).where(Issue.name == "TypeError")).scalar_one_or_none()

    found = wait_until(issue, 30)
    context.close()
    assert found is not None, f"no TypeError issue; envelope requests: {sent}"
    assert found.description == "Cart is empty: cannot check out cart-9"
    # Query-string auth, as @sentry/browser sends it (no X-Sentry-Auth header: no CORS preflight).
    assert any("sentry_key=" in url and "sentry_version=7" in url for url in sent), sent
    with live_db.read() as s:
        event = s.execute(sa.select(Event).where(Event.issue_id == found.id)).scalars().first()
    assert event is not None
    assert event.lib == "sentry.javascript.browser"
    assert event.properties["release"] == "web@3.1.4"
    frames = event.properties["$exception_list"][0]["stacktrace"]["frames"]
    app_frames = [f for f in frames if f.get("source") == "../src/app.js"]
    names = [f["resolved_name"] for f in app_frames]
    assert names[-3:] == ["checkout", "computeTotal", "validateCart"], frames
    crash = app_frames[-1]
    assert crash["resolved"] is True and crash["line"] == 4 and crash["mangled_name"] == "i"
    assert crash["junk_drawer"]["raw_frame"]["chunk_id"] == DEBUG_ID
