"""Real posthog-js (npm, `dist/array.full.js`) in headless Chromium against the real server: a handled error, a
chained error (`new Error(…, {cause})`) and an uncaught error (autocapture) become issues with resolved frames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event, Issue
from faultline.symbols.models import StackFrame
from tests.support.browser import POSTHOG_JS, USER_AGENT, PageServer, ensure_npm_packages
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser]

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
  posthog.init(%(token)s, {
    api_host: %(api)s, capture_exceptions: true, autocapture: false, capture_pageview: false,
    capture_pageleave: false, disable_session_recording: true, request_batching: true,
  });
</script></head><body>checkout</body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, live_server: LiveServer) -> Iterator[PageServer]:
    ensure_npm_packages()
    app_js = tmp_path_factory.mktemp("site") / "app.js"
    app_js.write_text(APP_JS)
    token = live_server.credentials()["project_token"]
    html = PAGE % {"token": json.dumps(token), "api": json.dumps(live_server.url)}
    pages = PageServer(
        pages={"/index.html": html}, files={"/static/array.full.js": POSTHOG_JS, "/static/app.js": app_js}
    ).start()
    yield pages
    pages.stop()


def test_posthog_js_in_chromium(site: PageServer, chromium: Any, live_db: Database) -> None:
    page = chromium.new_context(user_agent=USER_AGENT).new_page()
    page.goto(f"{site.url}/index.html")
    page.wait_for_function("window.posthog && window.posthog.__loaded === true", timeout=15_000)
    page.evaluate("window.runScenario()")

    def names() -> set[str]:
        with live_db.read() as session:
            return set(session.execute(sa.select(Issue.name)).scalars())

    arrived = wait_until(lambda: {"TypeError", "Error", "RangeError"} <= names())
    page.context.close()
    assert arrived, names()
    with live_db.read() as s:
        events = {e.properties["$exception_types"][0]: e for e in s.execute(sa.select(Event)).scalars()}
        frames = s.execute(sa.select(StackFrame)).scalars().all()

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
