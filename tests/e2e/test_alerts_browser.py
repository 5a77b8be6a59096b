"""The alerts page in Chromium: create a webhook alert through the form, see its signing secret once, send a test
notification to a receiver on loopback, and find that attempt in the delivery log; then a failing destination."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.ui_support import DESKTOP_UA, LAPTOP, log_in, screenshot
from tests.support.live_server import LiveServer
from tests.support.receivers import HttpReceiver, http_receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as found:
        yield found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    live = LiveServer(
        data_dir=tmp_path_factory.mktemp("alerts-ui") / "data",
        env_overrides={
            "FAULTLINE_ALERT_ALLOW_INTERNAL_URLS": "true",
            "FAULTLINE_ALERT_FAILING_AFTER": "1",
            "FAULTLINE_ALERT_MAX_ATTEMPTS": "1",
        },
    )
    live.start()
    try:
        creds = live.credentials()
        yield {**creds, "url": live.url, "headers": {"Authorization": f"Bearer {creds['api_key']}"}}
    finally:
        live.stop()


@pytest.fixture
def ui(chromium: Any, server: dict[str, Any]) -> Iterator[Any]:
    context = chromium.new_context(viewport=LAPTOP, user_agent=DESKTOP_UA)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server["url"], server["login"], server["password"])
    try:
        yield page
    finally:
        context.close()


def test_create_an_alert_send_a_test_and_see_it_in_the_delivery_log(
    server: dict[str, Any], ui: Any, receiver: HttpReceiver
) -> None:
    ui.goto(f"{server['url']}/project/{server['project_id']}/issues")
    ui.click("nav.mainnav a:has-text('Alerts')")
    ui.wait_for_load_state()
    ui.fill("#alert-name", "Checkout errors")
    ui.select_option("#alert-channel", "webhook")
    ui.fill("#alert-url", f"{receiver.url}/ui-hook")
    ui.click("#new-alert button[type=submit]")
    ui.wait_for_load_state()

    assert ui.locator("#alert-title").inner_text() == "Checkout errors"
    secret = ui.locator("#webhook-secret code").inner_text()
    assert secret.startswith("whsec_")

    ui.click("#send-test")
    ui.wait_for_load_state()
    assert "Test notification sent to 1 destination" in ui.locator(".flash").inner_text()
    [sent] = receiver.ok_at("/ui-hook")
    assert sent.json()["trigger"] == "test"
    signed = hmac.new(
        secret.encode(), sent.headers["X-Faultline-Timestamp"].encode() + b"." + sent.body, hashlib.sha256
    ).hexdigest()
    assert sent.headers["X-Faultline-Signature"] == f"sha256={signed}"

    rows = ui.locator("#delivery-log tbody tr")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "Test notification" in text and "success" in text and "webhook" in text
    screenshot(ui, "alert-delivery-log")

    # Reloading the page never shows the secret again.
    ui.reload()
    assert ui.locator("#webhook-secret").count() == 0

    alerts = httpx.get(
        f"{server['url']}/api/environments/{server['project_id']}/error_tracking/alerts/", headers=server["headers"]
    ).json()
    assert [a["name"] for a in alerts["results"]] == ["Checkout errors"]


def test_a_failing_destination_is_shown_as_failing(server: dict[str, Any], ui: Any, receiver: HttpReceiver) -> None:
    receiver.fail_first["/broken"] = 1
    ui.goto(f"{server['url']}/project/{server['project_id']}/alerts")
    ui.fill("#alert-name", "Broken receiver")
    ui.select_option("#alert-channel", "slack")
    ui.fill("#alert-url", f"{receiver.url}/broken")
    ui.click("#new-alert button[type=submit]")
    ui.wait_for_load_state()
    ui.click("#send-test")
    ui.wait_for_load_state()
    assert "0 of 1 destinations" in ui.locator(".flash").inner_text()
    assert "failing" in ui.locator("ul.destinations").inner_text()
    row = ui.locator("#delivery-log tbody tr").first
    assert row.get_attribute("data-status") == "failed"
    assert "HTTP 500" in row.inner_text()
    ui.goto(f"{server['url']}/project/{server['project_id']}/alerts")
    assert "slack · failing" in ui.locator("table.alerts").inner_text()
