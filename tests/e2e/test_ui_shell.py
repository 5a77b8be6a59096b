"""The UI shell in a real browser against `faultline serve`: login, account keys, settings, phone and dark mode."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.ui_support import DESKTOP_UA, LAPTOP, PHONE, horizontal_overflow, log_in, screenshot
from tests.support.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_login_create_key_and_settings(live_server: LiveServer, chromium) -> None:
    creds = live_server.credentials()
    context = chromium.new_context(viewport=LAPTOP, user_agent=DESKTOP_UA)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/login")
        page.fill("#email", creds["login"])
        page.fill("#password", "wrong password")
        page.click("form[action='/login'] button[type=submit]")
        assert page.locator(".form-error").inner_text() == "E-mail or password is incorrect."

        log_in(page, live_server.url, creds["login"], creds["password"])
        project_id = creds["project_id"]
        assert page.url.endswith(f"/project/{project_id}/issues")
        page.goto(f"{live_server.url}/project/{project_id}/settings")
        assert page.locator("#project-token").inner_text() == creds["project_token"]
        assert f'api_host: "{live_server.url}"' in page.locator("#snippet-posthog-js").inner_text()
        screenshot(page, "project-settings")

        page.goto(live_server.url + "/account")
        page.click("details.create > summary")
        page.fill("#key-label", "browser-made")
        page.check("input[name='scope:error_tracking'][value='read']")
        page.click("form[action='/account/keys'] button[type=submit]")
        value = page.locator("#new-key-value").inner_text()
        assert value.startswith("phx_")
        api = httpx.get(
            f"{live_server.url}/api/environments/{project_id}/", headers={"Authorization": f"Bearer {value}"}
        )
        assert api.status_code == 403  # error_tracking:read does not include project:read
        screenshot(page, "account")

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("tr", has_text="browser-made").locator("button", has_text="Revoke").click()
        page.wait_for_load_state()
        assert "API key revoked" in page.locator(".flash").inner_text()
        assert (
            httpx.get(f"{live_server.url}/api/users/@me/", headers={"Authorization": f"Bearer {value}"}).status_code
            == 401
        )

        page.click("form[action='/logout'] button")
        page.wait_for_load_state()
        assert page.url.endswith("/login")
        page.goto(live_server.url + "/account")
        assert "/login?next=%2Faccount" in page.url
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_has_no_sideways_scroll(live_server: LiveServer, chromium, scheme: str) -> None:
    creds = live_server.credentials()
    context = chromium.new_context(viewport=PHONE, user_agent=DESKTOP_UA, color_scheme=scheme, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server.url, creds["login"], creds["password"])
        for path in (f"/project/{creds['project_id']}/settings", "/account", "/organizations"):
            page.goto(live_server.url + path)
            assert horizontal_overflow(page) == 0, path
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(21, 21, 20)") == (scheme == "dark")
        screenshot(page, f"account-phone-{scheme}")
    finally:
        context.close()
