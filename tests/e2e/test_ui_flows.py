"""The web UI end to end: real SDKs send errors to `faultline serve`, a person triages them in headless Chromium.

* A page on another origin loads real posthog-js (npm) and a minified bundle with its source map, then throws an
  uncaught error: the issue shows up in the list with its sparklines, and its page shows the bundle's frames mapped
  back to the original functions, with the crashing line highlighted. Screenshots of both pages are written to
  `build/screenshots/` (test artefacts).
* Errors from the real posthog PyPI SDK are resolved, assigned and merged through the UI.
* A suppression rule is created with the filter editor and reordered; a symbol set is uploaded on its page.

One server and one browser for the module; every wait is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from posthog import Posthog

from tests.e2e.ui_support import PHONE, horizontal_overflow, log_in, screenshot
from tests.support.browser import POSTHOG_JS, USER_AGENT, PageServer, ensure_npm_packages
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JS_BUNDLE = Path("/work/shared/samples/js_bundle")
LAPTOP = {"width": 1280, "height": 900}

SHOP = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script src="/static/array.full.js"></script>
<script>
  posthog.init(%(token)s, {api_host: %(api_host)s, persistence: "memory", autocapture: false,
                           capture_pageview: false, disable_session_recording: true});
</script>
<script src="/static/app.min.js"></script>
<script>
  window.checkoutLater = function () { setTimeout(function () { checkout({id: "cart-42", items: []}); }, 0); };
</script>
</head><body><h1>Shop</h1></body></html>
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # The shop page is served from 127.0.0.1: let the resolver fetch its scripts and source maps from there.
    live = LiveServer(
        data_dir=tmp_path_factory.mktemp("ui-flows") / "data",
        env_overrides={"FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS": "true"},
    )
    live.start()
    try:
        creds = live.credentials()
        assert {"login", "password", "project_token", "api_key", "project_id"} <= set(creds), live.output()
        yield {**creds, "url": live.url, "headers": {"Authorization": f"Bearer {creds['api_key']}"}}
    finally:
        live.stop()


@pytest.fixture(scope="module")
def shop(server: dict[str, Any]) -> Iterator[PageServer]:
    ensure_npm_packages()
    html = SHOP % {"token": json.dumps(server["project_token"]), "api_host": json.dumps(server["url"])}
    pages = PageServer(
        pages={"/": html},
        files={
            "/static/array.full.js": POSTHOG_JS,
            "/static/app.min.js": JS_BUNDLE / "app.min.js",
            "/static/app.min.js.map": JS_BUNDLE / "app.min.js.map",
        },
    ).start()
    yield pages
    pages.stop()


@pytest.fixture
def ui(chromium: Any, server: dict[str, Any]) -> Iterator[Any]:
    """A logged-in laptop-sized page; dialogs (confirmations) are accepted."""
    context = chromium.new_context(viewport=LAPTOP, user_agent=USER_AGENT)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server["url"], server["login"], server["password"])
    try:
        yield page
    finally:
        context.close()


def project_url(server: dict[str, Any], path: str) -> str:
    return f"{server['url']}/project/{server['project_id']}/{path}"


def api(server: dict[str, Any], path: str, **params: str) -> Any:
    response = httpx.get(
        f"{server['url']}/api/environments/{server['project_id']}/error_tracking/{path}",
        headers=server["headers"],
        params=params,
    )
    assert response.status_code == 200, response.text
    return response.json()


def issue_ids(server: dict[str, Any], search: str) -> list[str]:
    return [i["id"] for i in api(server, "issues/", search=search, status="all")["results"]]


def test_browser_error_appears_with_its_frames(
    chromium: Any, shop: PageServer, server: dict[str, Any], ui: Any
) -> None:
    context = chromium.new_context(user_agent=USER_AGENT)
    try:
        page = context.new_page()
        page.goto(shop.url + "/")
        # Remote config from Faultline switches exception autocapture on; throw only once it is listening.
        page.wait_for_function(
            "() => !!(window.posthog && posthog.exceptionObserver && posthog.exceptionObserver.isEnabled)",
            timeout=15_000,
        )
        page.wait_for_timeout(300)
        page.evaluate("window.checkoutLater()")
        assert wait_until(lambda: issue_ids(server, "Cart is empty")), "the uncaught error never became an issue"
    finally:
        context.close()

    # The list: the new issue with both sparklines, its numbers and relative times.
    ui.goto(project_url(server, "issues"))
    row = ui.locator("tr.issue-row", has_text="Cart is empty: cannot check out cart-42")
    assert row.count() == 1
    sparks = row.locator("svg.spark")
    assert sparks.count() == 2
    assert sparks.nth(0).get_attribute("aria-label") == "Events per hour, last 24 hours: 1 event, peak 1"
    assert row.locator("td.num").first.inner_text() == "1"
    assert row.locator("time").first.inner_text() in ("just now", "1 minute ago")
    screenshot(ui, "issue-list")

    # The issue page: the bundle's minified frames mapped back to the original functions and lines.
    row.locator("a.issue-title").click()
    ui.wait_for_load_state()
    assert ui.locator("h1#issue-title").inner_text() == "TypeError"
    assert ui.locator(".exc-head .badge.danger").inner_text() == "unhandled"
    functions = ui.locator(".frame.in-app .fn").all_inner_texts()
    assert functions[:3] == ["validateCart", "computeTotal", "checkout"], functions
    first_frame = ui.locator(".frame.in-app").first
    assert "../src/app.js:4" in first_frame.locator(".loc").inner_text()
    crash = first_frame.locator(".ln.crash")
    assert crash.is_visible()
    assert "throw new TypeError" in crash.inner_text()
    assert crash.evaluate("el => getComputedStyle(el).fontWeight") in ("600", "700")
    # The inline page script has no source map: it says why instead of pretending.
    assert ui.locator(".frame .why").count() >= 1
    assert "http://127.0.0.1" in ui.locator("dl.facts").inner_text()  # the page URL the error happened on
    screenshot(ui, "issue-detail")

    # The resolver fetched the bundle's map: the symbol-set page lists it, with when it was last used.
    ui.goto(project_url(server, "symbol-sets"))
    fetched = ui.locator("tr.set-row", has_text="/static/app.min.js")
    assert fetched.count() >= 1 and "uploaded" in fetched.first.inner_text()

    # Phone width, light and dark: list and issue page fit the screen.
    for scheme in ("light", "dark"):
        phone = chromium.new_context(viewport=PHONE, user_agent=USER_AGENT, color_scheme=scheme, is_mobile=True)
        try:
            small = phone.new_page()
            log_in(small, server["url"], server["login"], server["password"])
            small.goto(project_url(server, "issues"))
            assert horizontal_overflow(small) == 0
            small.locator("a.issue-title").first.click()
            small.wait_for_load_state()
            assert horizontal_overflow(small) == 0
            screenshot(small, f"issue-detail-phone-{scheme}")
        finally:
            phone.close()


def _python_errors(server: dict[str, Any]) -> list[str]:
    client = Posthog(server["project_token"], host=server["url"], sync_mode=True)
    names = []
    for exc in (LookupError("warehouse AMS-2 has no stock for sku-9"), PermissionError("refund needs approval")):
        try:
            raise exc
        except Exception as caught:
            client.capture_exception(caught, distinct_id="ops-1")
            names.append(type(caught).__name__)
    client.shutdown()
    return names


def test_resolve_assign_and_merge(server: dict[str, Any], ui: Any) -> None:
    _python_errors(server)
    assert wait_until(lambda: len(issue_ids(server, "warehouse AMS-2")) == 1 and issue_ids(server, "refund needs"))
    [lookup] = issue_ids(server, "warehouse AMS-2")
    [permission] = issue_ids(server, "refund needs")

    ui.goto(project_url(server, f"issues/{lookup}"))
    ui.click("form.issue-status button[value='resolved']")
    ui.wait_for_load_state()
    assert ui.locator(".flash").inner_text() == "Issue resolved."
    assert ui.locator(".issue-meta .badge.status-resolved").inner_text() == "Resolved"

    me = ui.locator("#assignee option", has_text="(you)").get_attribute("value")
    ui.select_option("#assignee", value=me)
    ui.click("form[action$='/assign'] button[type=submit]")
    ui.wait_for_load_state()
    assert ui.locator("#assignee-badge").inner_text() == "@ you"
    activity = ui.locator("ol.activity").inner_text()
    assert "assigned the issue to yourself" in activity and "changed status from Active to Resolved" in activity
    assert api(server, f"issues/{lookup}/")["status"] == "resolved"

    # Merge from the list: select both on the "All" tab, merge into the first selected.
    ui.goto(project_url(server, "issues?status=all"))
    ui.check(f"input[name=ids][value='{lookup}']")
    ui.check(f"input[name=ids][value='{permission}']")
    assert ui.locator("[data-selected-count]").inner_text() == "2 selected"
    ui.click("button[name=action][value=merge]")
    ui.wait_for_load_state()
    assert re.match(r"Merged 1 issue into the first selected one\.", ui.locator(".flash").inner_text())
    remaining = api(server, "issues/", status="all", search="refund needs")["results"]
    assert len(remaining) == 1 and remaining[0]["aggregates"]["occurrences"] == 2


def test_create_and_reorder_suppression_rules(server: dict[str, Any], ui: Any) -> None:
    ui.goto(project_url(server, "rules/suppression"))
    rows = ui.locator("li.filter-row")
    rows.nth(0).locator("input[name=key]").fill("$exception_types")
    rows.nth(0).locator("input[name=value]").fill("ResizeObserverError")
    ui.click("button[data-add-row]")
    assert rows.count() == 2
    rows.nth(1).locator("input[name=key]").fill("$current_url")
    rows.nth(1).locator("select[name=operator]").select_option("icontains")
    rows.nth(1).locator("input[name=value]").fill("/legacy/")
    ui.check("input[name=match][value=OR]")
    ui.click("form.rule-form button[type=submit]")  # preview first …
    ui.wait_for_load_state()
    assert ui.locator("[data-preview-summary]").inner_text().startswith("Matches 0 of the last 7 days'")
    ui.click("form.rule-form button[type=submit]")  # … then save
    ui.wait_for_load_state()
    assert ui.locator(".flash").inner_text() == "Suppression rule created."

    ui.locator("li.filter-row input[name=key]").first.fill("$lib")
    ui.locator("li.filter-row input[name=value]").first.fill("posthog-node")
    ui.fill("#sampling_rate", "0.5")
    ui.click("form.rule-form button[type=submit]")
    ui.wait_for_load_state()
    ui.click("form.rule-form button[type=submit]")
    ui.wait_for_load_state()
    summaries = ui.locator(".rule-summary").all_inner_texts()
    assert summaries == [
        "$exception_types equals ResizeObserverError OR $current_url contains /legacy/",
        "$lib equals posthog-node",
    ]
    ui.locator("li.rule").nth(1).locator("button[value=up]").click()
    ui.wait_for_load_state()
    assert ui.locator(".rule-summary").all_inner_texts()[0] == "$lib equals posthog-node"
    stored = api(server, "suppression_rules/")["results"]
    assert [r["filters"]["values"][0]["key"] for r in stored] == ["$lib", "$exception_types"]
    assert stored[0]["sampling_rate"] == 0.5

    # A bad regex is refused next to the form, with what was typed still there.
    ui.locator("li.filter-row input[name=key]").first.fill("$exception_values")
    ui.locator("li.filter-row select[name=operator]").first.select_option("regex")
    ui.locator("li.filter-row input[name=value]").first.fill("(unclosed")
    ui.click("form.rule-form button[type=submit]")
    ui.wait_for_load_state()
    assert "Invalid regular expression" in ui.locator(".form-error").inner_text()
    assert ui.locator("li.filter-row input[name=value]").first.input_value() == "(unclosed"
    assert len(api(server, "suppression_rules/")["results"]) == 2


def test_symbol_set_upload_page(server: dict[str, Any], ui: Any) -> None:
    ui.goto(project_url(server, "symbol-sets"))
    ui.set_input_files("#script", str(JS_BUNDLE / "app.injected.js"))
    ui.set_input_files("#sourcemap", str(JS_BUNDLE / "app.injected.js.map"))
    ui.click("form.upload-form button[type=submit]")
    ui.wait_for_load_state()
    assert "Uploaded the source map for chunk 0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b" in ui.locator(".flash").inner_text()
    row = ui.locator("tr.set-row", has_text="0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b")
    assert row.count() == 1 and "uploaded" in row.inner_text()
    screenshot(ui, "symbol-sets")
    listed = api(server, "symbol_sets/", ref="0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b")["results"]
    assert listed and listed[0]["has_uploaded_file"] is True
