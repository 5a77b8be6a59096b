"""The issue page's new views end to end: real posthog-python (local variables on, two releases) → `faultline serve`
→ headless Chromium at 1280 px and 390 px.

* local variables under their frame, breakdowns, "seen in releases" and "first seen in";
* copy traceback / copy as Markdown (read back from the real clipboard) and the raw-event download;
* keyboard shortcuts (`j`, `?`, `r`), the skip link, a comment;
* the Releases page (event releases with issue counts) and the list's "More filters";
* no horizontal scroll at 390 px on any of these pages; screenshots in build/screenshots/.

One server and one browser for the module; every wait is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from posthog import Posthog

from tests.e2e.ui_support import LAPTOP, PHONE, horizontal_overflow, log_in, screenshot
from tests.support.browser import USER_AGENT
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HERE = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    live = LiveServer(data_dir=tmp_path_factory.mktemp("insights") / "data")
    live.start()
    try:
        creds = live.credentials()
        yield {**creds, "url": live.url, "headers": {"Authorization": f"Bearer {creds['api_key']}"}}
    finally:
        live.stop()


def _charge(order_total: int, currency: str) -> None:
    coupon = {"code": "WINTER", "percent": 120}
    discount = order_total * coupon["percent"] // 100
    if discount > order_total:
        raise ValueError(f"discount {discount} exceeds total {order_total} {currency}")


def _send(server: dict[str, Any]) -> None:
    """Real posthog-python with local variables on: four events, two releases, two browsers' worth of users."""
    client = Posthog(
        server["project_token"],
        host=server["url"],
        sync_mode=True,
        project_root=HERE,
        capture_exception_code_variables=True,
    )
    for version, user in (("2.4.0", "ada"), ("2.4.0", "bob"), ("2.5.0", "ada"), ("2.5.0", "cy")):
        try:
            _charge(100, "EUR")
        except ValueError as exc:
            client.capture_exception(
                exc, distinct_id=user, properties={"$app_version": version, "$environment": "production"}
            )
    client.shutdown()


def _api(server: dict[str, Any], path: str, **params: str) -> Any:
    response = httpx.get(
        f"{server['url']}/api/environments/{server['project_id']}/error_tracking/{path}",
        headers=server["headers"],
        params=params,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def issue(server: dict[str, Any]) -> str:
    _send(server)
    assert wait_until(
        lambda: (
            _api(server, "issues/", search="discount")["count"] == 1
            and _api(server, "issues/", search="discount")["results"][0]["aggregates"]["occurrences"] == 4
        ),
        timeout_s=60,
    ), "the four events never arrived"
    return str(_api(server, "issues/", search="discount")["results"][0]["id"])


def _page(chromium: Any, server: dict[str, Any], viewport: dict[str, int], **extra: Any) -> tuple[Any, Any]:
    context = chromium.new_context(viewport=viewport, user_agent=USER_AGENT, **extra)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server["url"], server["login"], server["password"])
    return context, page


def test_issue_page_at_laptop_width(chromium: Any, server: dict[str, Any], issue: str) -> None:
    context, page = _page(chromium, server, LAPTOP, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server["url"])
    try:
        url = f"{server['url']}/project/{server['project_id']}/issues/{issue}"
        page.goto(url)
        assert page.locator("#issue-culprit").inner_text() == "_charge in tests/e2e/test_issue_insights_live.py"
        assert page.locator("#first-release").inner_text() == "2.4.0"
        # Local variables of the crashing frame, from the real SDK.
        crash_frame = page.locator(".frame.in-app").first
        variables = dict(
            zip(
                crash_frame.locator("table.vars th").all_inner_texts(),
                crash_frame.locator("table.vars td").all_inner_texts(),
                strict=True,
            )
        )
        assert variables["order_total"] == "100" and variables["discount"] == "120", variables
        assert "WINTER" in variables["coupon"]
        # Highlighted source.
        assert crash_frame.locator("pre.context .tk-k").count() >= 1
        # Breakdowns and releases.
        assert "2.5.0" in page.locator("#issue-releases").inner_text()
        breakdowns = page.locator("#breakdowns").inner_text()
        assert "production" in breakdowns and "3 in all" in breakdowns
        screenshot(page, "issue-insights")

        # Copy traceback and Markdown: what lands on the clipboard.
        page.click("button[data-copy='traceback-text']")
        # Our pages forbid eval (CSP), so no string predicates (wait_for_function evals them while polling).
        expect(page.locator("[data-copy-status]")).not_to_have_text("")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("ValueError: discount 120 exceeds total 100 EUR\n  at _charge (")
        page.click("button[data-copy='markdown-text']")
        expect(page.locator("[data-copy-status]")).to_have_text("Markdown copied")
        markdown = page.evaluate("navigator.clipboard.readText()")
        assert markdown.startswith("# Error: ValueError") and "- `order_total` = `100`" in markdown

        # Raw event download.
        with page.expect_download() as download_info:
            page.click("a[download]")
        event = json.loads(Path(download_info.value.path()).read_text())
        assert event["properties"]["$exception_list"][0]["type"] == "ValueError"

        # A comment, then "r" resolves from the keyboard.
        page.fill("#comment", "Coupon over 100 % — validate percent on save")
        page.click(".comment-form button[type=submit]")
        page.wait_for_load_state()
        assert "validate percent on save" in page.locator("blockquote.comment").first.inner_text()
        page.locator("h1#issue-title").click()
        page.keyboard.press("r")
        page.wait_for_url("**/issues/*")
        assert wait_until(lambda: _api(server, f"issues/{issue}/")["status"] == "resolved", timeout_s=10)
    finally:
        context.close()


def test_list_shortcuts_filters_and_releases(chromium: Any, server: dict[str, Any], issue: str) -> None:
    context, page = _page(chromium, server, LAPTOP)
    try:
        base = f"{server['url']}/project/{server['project_id']}"
        page.goto(f"{base}/issues?status=all")
        # Skip link: the first Tab stop, and it lands on the content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("j")
        assert page.locator("tr.issue-row.kb-current").count() == 1
        page.keyboard.press("?")
        assert page.locator("dialog#shortcuts").evaluate("d => d.open")
        page.keyboard.press("Escape")
        # Filters: release 2.5.0 keeps the issue, an unknown environment none.
        page.click(".more-filters summary")
        page.select_option("#f-release", "2.5.0")
        page.click(".filters button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("tr.issue-row").count() == 1
        assert page.locator("tr.issue-row p.culprit").inner_text() == "_charge in tests/e2e/test_issue_insights_live.py"
        screenshot(page, "issue-list-filters")
        page.goto(f"{base}/releases")
        rows = page.locator("table.seen-releases tbody tr")
        assert rows.count() == 2 and rows.first.get_attribute("data-release") == "2.5.0"
        screenshot(page, "releases")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_new_views_fit_a_phone(chromium: Any, server: dict[str, Any], issue: str, scheme: str) -> None:
    context, page = _page(chromium, server, PHONE, color_scheme=scheme, is_mobile=True)
    try:
        base = f"{server['url']}/project/{server['project_id']}"
        for path, name in (
            (f"issues/{issue}", "issue-insights"),
            ("issues?status=all&release=2.4.0", "issue-list-filters"),
            ("releases", "releases"),
        ):
            page.goto(f"{base}/{path}")
            if "release=" in path:
                assert page.locator(".more-filters").evaluate("d => d.open")
            assert horizontal_overflow(page) == 0, path
            screenshot(page, f"{name}-phone-{scheme}")
    finally:
        context.close()
