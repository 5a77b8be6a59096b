"""Real posthog-js (npm, `dist/array.full.js`) in headless Chromium against the real server: a handled error, a
chained error (`new Error(…, {cause})`) and an uncaught error (autocapture) become issues with resolved frames."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event, Issue
from faultline.symbols.models import StackFrame
from tests.support.live_server import LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]

JS_DIR = Path(__file__).with_name("js")
CHROMIUM = "/usr/bin/chromium"
# posthog-js drops every event from a browser that looks automated (browser-sdk-notes.md): look like Chrome.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

APP_JS = """
function validateCart(cart) {
  if (!cart.items.length) { throw new TypeError("Cart is empty: cannot check out " + cart.id); }
}
function loadConfig(text) {
  try { return JSON.parse(text); }
  catch (err) { throw new Error("config broken", { cause: err }); }
}
window.runScenario = function () {
  try { validateCart({ id: "cart-42", items: [] }); }
  catch (e) { posthog.captureException(e, { scenario: "handled" }); }
  try { loadConfig("{oops"); } catch (e) { posthog.captureException(e, { scenario: "chained" }); }
  setTimeout(function uncaught() { throw new RangeError("autocaptured in a timer"); }, 0);
};
"""

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/static/array.full.js"></script>
<script src="/static/app.js"></script>
<script>
  posthog.init("{token}", {{
    api_host: "{api}", capture_exceptions: true, autocapture: false, capture_pageview: false,
    capture_pageleave: false, disable_session_recording: true, request_batching: true,
  }});
</script></head><body>checkout</body></html>
"""


def posthog_js() -> Path:
    bundle = JS_DIR / "node_modules" / "posthog-js" / "dist" / "array.full.js"
    if not bundle.exists():
        if shutil.which("npm") is None:
            pytest.skip("BROWSER TEST SKIPPED — npm is not installed")
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not bundle.exists():
            pytest.skip(f"BROWSER TEST SKIPPED — `npm ci` failed: {result.stderr[-500:]}")
    return bundle


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, live_server: LiveServer) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"BROWSER TEST SKIPPED — {CHROMIUM} is missing")
    root = tmp_path_factory.mktemp("site")
    (root / "static").mkdir()
    shutil.copy(posthog_js(), root / "static" / "array.full.js")
    (root / "static" / "app.js").write_text(APP_JS)
    token = live_server.credentials()["project_token"]
    (root / "index.html").write_text(PAGE.format(token=token, api=live_server.url))
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_posthog_js_in_chromium(site: str, live_server: LiveServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-blink-features=AutomationControlled",
                "--disable-background-networking",
                "--no-first-run",
            ],
            ignore_default_args=["--enable-automation"],
        )
        try:
            page = browser.new_context(user_agent=USER_AGENT).new_page()
            page.goto(f"{site}/index.html")
            page.wait_for_function("window.posthog && window.posthog.__loaded === true", timeout=15_000)
            page.evaluate("window.runScenario()")
            db = Database(f"sqlite:///{live_server.data_dir / 'faultline.db'}")
            try:
                deadline = time.monotonic() + 30
                names: set[str] = set()
                while time.monotonic() < deadline:
                    with db.read() as s:
                        names = set(s.execute(sa.select(Issue.name)).scalars())
                    if {"TypeError", "Error", "RangeError"} <= names:
                        break
                    page.wait_for_timeout(250)
                assert {"TypeError", "Error", "RangeError"} <= names, names
                with db.read() as s:
                    events = {e.properties["$exception_types"][0]: e for e in s.execute(sa.select(Event)).scalars()}
                    frames = s.execute(sa.select(StackFrame)).scalars().all()
            finally:
                db.dispose()
        finally:
            browser.close()

    handled = events["TypeError"]
    assert handled.lib == "web" and handled.properties["scenario"] == "handled"
    assert handled.properties["$exception_handled"] is True
    assert "validateCart" in handled.properties["$exception_functions"]
    assert "/static/app.js" in handled.properties["$exception_sources"]
    chained = events["Error"].properties
    assert chained["$exception_types"] == ["Error", "SyntaxError"]  # outermost first, then its cause
    assert events["RangeError"].properties["$exception_handled"] is False  # window.onerror autocapture
    app_frames = [f for f in frames if f.contents.get("source") == "/static/app.js"]
    assert app_frames and all(f.resolved and f.contents["lang"] == "javascript" for f in app_frames)
    assert {"validateCart", "loadConfig"} <= {f.contents["resolved_name"] for f in app_frames}
