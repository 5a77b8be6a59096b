"""Real posthog-js (npm, `dist/array.full.js`) in headless Chromium against a live Faultline.

The page is served by the test from its own origin; the SDK fetches `/array/<token>/config.js` from Faultline
and then (a) drops exceptions matching a suppression rule shipped in that config while other exceptions are
sent (and stored by Faultline), and (b) does not autocapture exceptions when the project's opt-in is off
(manual capture still works).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.browser import (
    POSTHOG_JS,
    USER_AGENT,
    PageServer,
    SentRequests,
    ensure_npm_packages,
    exception_types,
    launch_chromium,
)
from tests.support.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script src="/static/array.full.js"></script>
<script>
  posthog.init(%(token)s, {api_host: %(api_host)s, persistence: "memory", autocapture: false});
  window.throwLater = function (kind, message) { setTimeout(function () { throw new window[kind](message); }, 0); };
</script>
</head><body><h1>Shop</h1></body></html>
"""


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> dict[str, Any]:
    creds = live_server.credentials()
    assert {"project_token", "api_key", "project_id"} <= set(creds), live_server.output()
    return {
        **creds,
        "url": live_server.url,
        "headers": {"Authorization": f"Bearer {creds['api_key']}"},
        "database_url": f"sqlite:///{live_server.data_dir / 'faultline.db'}",
    }


def stored_messages(server: dict[str, Any], wanted: set[str], timeout_s: float = 30.0) -> set[str]:
    """Exception messages Faultline stored, polled until `wanted` are all there (the worker digests async)."""
    db = Database(server["database_url"])
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with db.read() as session:
                rows = session.execute(sa.select(Event.properties)).scalars().all()
            found = {e.get("value") for props in rows for e in props.get("$exception_list", [])}
            if wanted <= found or time.monotonic() > deadline:
                return found
            time.sleep(0.3)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def pages(server: dict[str, Any]) -> Iterator[PageServer]:
    ensure_npm_packages()
    html = PAGE % {"token": json.dumps(server["project_token"]), "api_host": json.dumps(server["url"])}
    page_server = PageServer(pages={"/": html}, files={"/static/array.full.js": POSTHOG_JS}).start()
    yield page_server
    page_server.stop()


@pytest.fixture(scope="module")
def browser(pages: PageServer) -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


def api(server: dict[str, Any], path: str) -> str:
    return f"{server['url']}/api/environments/{server['project_id']}/error_tracking/{path}"


def open_shop(browser: Any, pages: PageServer, server: dict[str, Any]) -> tuple[Any, Any, SentRequests]:
    context = browser.new_context(user_agent=USER_AGENT)
    page = context.new_page()
    sent = SentRequests(origin=server["url"])
    sent.attach(page)
    page.goto(pages.url + "/")
    token = server["project_token"]
    page.wait_for_function(
        f"() => !!(window._POSTHOG_REMOTE_CONFIG && window._POSTHOG_REMOTE_CONFIG[{json.dumps(token)}])"
    )
    assert f"/array/{token}/config.js" in sent.paths()
    # The pageview goes out once remote config has been applied; by then autocapture is (or is not) installed.
    assert sent.wait_for(page, lambda: bool(sent.named("$pageview"))), sent.paths()
    page.wait_for_timeout(500)
    return context, page, sent


def messages(sent: SentRequests) -> list[str]:
    """Exception messages the page sent, once per event (a retried request repeats the same event uuid)."""
    unique = {event.get("uuid"): event for event in sent.named("$exception")}
    return [e.get("value") for event in unique.values() for e in event["properties"]["$exception_list"]]


def test_suppression_rule_is_applied_by_the_sdk(server: dict[str, Any], pages: PageServer, browser: Any) -> None:
    rule = {
        "type": "OR",
        "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
    }
    response = httpx.post(api(server, "suppression_rules/"), headers=server["headers"], json={"filters": rule})
    assert response.status_code == 201, response.text
    config = httpx.get(f"{server['url']}/array/{server['project_token']}/config").json()
    assert config["errorTracking"]["suppressionRules"] == [rule]

    context, page, sent = open_shop(browser, pages, server)
    try:
        page.evaluate("throwLater('TypeError', 'cart is undefined (autocaptured)')")
        page.evaluate("throwLater('RangeError', 'quantity out of range (autocaptured)')")
        page.evaluate("posthog.captureException(new TypeError('cart is undefined (manual)'))")
        page.evaluate("posthog.captureException(new RangeError('quantity out of range (manual)'))")
        wanted = {"quantity out of range (autocaptured)", "quantity out of range (manual)"}
        assert sent.wait_for(page, lambda: wanted <= set(messages(sent))), messages(sent)
        page.wait_for_timeout(3500)  # one more flush interval: anything else queued would be sent by now
        assert {t for event in sent.named("$exception") for t in exception_types(event)} == {"RangeError"}
        assert all(
            e["properties"].get("$exception_capture_enabled_server_side") is True for e in sent.named("$exception")
        )
    finally:
        context.close()


def test_autocapture_is_off_when_the_project_opts_out(server: dict[str, Any], pages: PageServer, browser: Any) -> None:
    response = httpx.patch(
        api(server, "settings/update_settings/"),
        headers=server["headers"],
        json={"autocapture_exceptions_opt_in": False},
    )
    assert response.status_code == 200 and response.json()["autocapture_exceptions_opt_in"] is False
    context, page, sent = open_shop(browser, pages, server)
    try:
        page.evaluate("throwLater('RangeError', 'nobody should see this (autocaptured)')")
        page.wait_for_timeout(300)
        page.evaluate("posthog.captureException(new RangeError('still reported (manual)'))")
        assert sent.wait_for(page, lambda: "still reported (manual)" in messages(sent)), messages(sent)
        page.wait_for_timeout(3500)
        assert messages(sent) == ["still reported (manual)"], (sent.requests, sent.events)
        assert sent.named("$exception")[0]["properties"]["$exception_capture_enabled_server_side"] is False
    finally:
        context.close()
        httpx.patch(
            api(server, "settings/update_settings/"),
            headers=server["headers"],
            json={"autocapture_exceptions_opt_in": True},
        )
