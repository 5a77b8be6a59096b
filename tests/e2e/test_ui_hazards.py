"""Triage hazards, end to end: errors from the real posthog PyPI SDK into `faultline serve`, a person in headless
Chromium at laptop (1280 px) and phone (390 px) width.

* A blank suppression form no longer saves a drop-everything rule: the first submit shows what the rule would have
  done over the last 7 days' stored events, a match-all rule needs a ticked confirmation, and the REST API answers
  the same preview at `…/suppression_rules/dry_run/`.
* Several words are ANDed, quotes make a phrase, `user:` finds a distinct id — in the list's search box.
* Split names the new issue from its events; each fingerprint shows its exception type, message, top frame and
  event count.
* Standard-library frames the SDK left without `in_app` are library frames: the trace opens on the app's frame.
* Activity sentences ("You assigned the issue to yourself", a rule's automatic assignment), no list numbers.
* No page touched here scrolls sideways at 390 px, every nav item and tab is on screen, the list keeps first/last
  seen; HTML pages are gzip-compressed, capture and API answers are not.

One server and one browser for the module; every wait is bounded. Pages are also written to build/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from posthog import Posthog

from tests.e2e.ui_support import LAPTOP, PHONE, horizontal_overflow, log_in, screenshot
from tests.support.browser import USER_AGENT
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# One token of 300 characters without a break opportunity, as minified names and pasted ids are.
LONG_TOKEN = "x" * 120 + "/" + "ReallyLongMinifiedIdentifier" * 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    live = LiveServer(data_dir=tmp_path_factory.mktemp("ui-hazards") / "data")
    live.start()
    try:
        creds = live.credentials()
        assert {"login", "password", "project_token", "api_key", "project_id"} <= set(creds), live.output()
        yield {**creds, "url": live.url, "headers": {"Authorization": f"Bearer {creds['api_key']}"}}
    finally:
        live.stop()


def api_url(server: dict[str, Any], path: str) -> str:
    return f"{server['url']}/api/environments/{server['project_id']}/error_tracking/{path}"


def api(server: dict[str, Any], path: str, **params: str) -> Any:
    response = httpx.get(api_url(server, path), headers=server["headers"], params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def api_post(server: dict[str, Any], path: str, body: Any) -> httpx.Response:
    return httpx.post(api_url(server, path), headers=server["headers"], json=body, timeout=30)


def issues(server: dict[str, Any], search: str) -> list[dict[str, Any]]:
    return list(api(server, "issues/", search=search, status="all")["results"])


def project_url(server: dict[str, Any], path: str) -> str:
    return f"{server['url']}/project/{server['project_id']}/{path}"


# -- what the application raises (frames of this file are the "app"; json's are the standard library) ------------


def charge_card(order: str) -> None:
    raise ConnectionError(f"payment gateway timed out for {order}")


def parse_settings(raw: str) -> Any:
    return json.loads(raw)


def add_to_cart(item: str) -> None:
    raise TypeError(f"cannot add {item} to cart {LONG_TOKEN}")


def remove_from_cart(item: str) -> None:
    raise KeyError(f"cart has no {item}")


def _capture(server: dict[str, Any], calls: list[tuple[Any, str, str]]) -> None:
    client = Posthog(server["project_token"], host=server["url"], sync_mode=True)
    for function, argument, distinct_id in calls:
        try:
            function(argument)
        except Exception as caught:
            client.capture_exception(caught, distinct_id=distinct_id)
    client.shutdown()


@pytest.fixture(scope="module")
def seeded(server: dict[str, Any]) -> dict[str, str]:
    _capture(
        server,
        [
            (charge_card, "order-7", "checkout-user"),
            (parse_settings, "{not json", "settings-user"),
            (add_to_cart, "sku-1", "cart-user"),
            (remove_from_cart, "sku-2", "cart-user"),
        ],
    )
    assert wait_until(lambda: len(api(server, "issues/", status="all")["results"]) == 4, timeout_s=60), api(
        server, "issues/", status="all"
    )
    found = {
        "payment": issues(server, "payment gateway")[0]["id"],
        "json": issues(server, "JSONDecodeError")[0]["id"],
        "cart": issues(server, "cannot add")[0]["id"],
        "key": issues(server, "KeyError")[0]["id"],
    }
    return found


def _page(chromium: Any, server: dict[str, Any], viewport: dict[str, int]) -> tuple[Any, Any]:
    context = chromium.new_context(viewport=viewport, user_agent=USER_AGENT)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server["url"], server["login"], server["password"])
    return context, page


@pytest.fixture
def ui(chromium: Any, server: dict[str, Any]) -> Iterator[Any]:
    context, page = _page(chromium, server, LAPTOP)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone(chromium: Any, server: dict[str, Any]) -> Iterator[Any]:
    context, page = _page(chromium, server, PHONE)
    try:
        yield page
    finally:
        context.close()


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), horizontal_overflow(page)


# -- rules ---------------------------------------------------------------------------------------------------------

PREVIEW = re.compile(r"Matches (\d+) of the last 7 days' (\d+) events? across (\d+) issues?: would drop all of them\.")


@pytest.mark.parametrize("viewport", ["laptop", "phone"])
def test_blank_suppression_rule_needs_preview_and_confirmation(
    server: dict[str, Any], seeded: dict[str, str], ui: Any, phone: Any, viewport: str
) -> None:
    page = ui if viewport == "laptop" else phone
    page.goto(project_url(server, "rules/suppression"))
    button = page.locator("form.rule-form button[type=submit]")
    assert button.inner_text() == "Preview rule"
    button.click()
    page.wait_for_load_state()
    summary = page.locator("[data-preview-summary]").inner_text()
    match = PREVIEW.fullmatch(summary)
    assert match, summary
    matched, total, issue_count = (int(g) for g in match.groups())
    # Every stored event of the window, across every issue (tests of this module may run in any order).
    listed = api(server, "issues/", status="all", limit="100")["results"]
    assert matched == total == sum(i["aggregates"]["occurrences"] for i in listed) >= 4
    assert issue_count == len(listed)
    assert "applies to every event" in page.locator("[data-rule-preview]").inner_text()
    assert api(server, "suppression_rules/")["count"] == 0  # nothing saved by the preview
    _fits(page)
    screenshot(page, f"rules-preview-match-all-{viewport}")

    # Confirming without the box: refused, still nothing saved.
    page.locator("form.rule-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "tick the box to confirm" in page.locator("#err-confirm_all").inner_text()
    assert api(server, "suppression_rules/")["count"] == 0
    # With the box: saved. Removed again at once so that it cannot drop the other tests' events.
    page.check("input[name=confirm_all]")
    page.locator("form.rule-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".flash").inner_text() == "Suppression rule created."
    [rule] = api(server, "suppression_rules/")["results"]
    assert (
        httpx.delete(api_url(server, f"suppression_rules/{rule['id']}/"), headers=server["headers"]).status_code == 204
    )


def test_grouping_rule_preview_then_save(server: dict[str, Any], seeded: dict[str, str], ui: Any) -> None:
    ui.goto(project_url(server, "rules/grouping"))
    row = ui.locator("li.filter-row").first
    row.locator("input[name=key]").fill("$exception_types")
    row.locator("input[name=value]").fill("KeyError")
    ui.fill("#description", "Cart key errors")
    ui.locator("form.rule-form button[type=submit]").click()
    ui.wait_for_load_state()
    summary = ui.locator("[data-preview-summary]").inner_text()
    assert re.match(
        r"Matches 1 of the last 7 days' \d+ events across 1 issue: would move them into an issue", summary
    ), summary
    assert ui.locator("input[name=confirm_all]").count() == 0  # a real condition: no match-all confirmation
    assert ui.locator("form.rule-form button[type=submit]").inner_text() == "Confirm and create rule"
    ui.locator("form.rule-form button[type=submit]").click()
    ui.wait_for_load_state()
    assert ui.locator(".flash").inner_text() == "Grouping rule created."
    [rule] = api(server, "grouping_rules/")["results"]
    assert httpx.delete(api_url(server, f"grouping_rules/{rule['id']}/"), headers=server["headers"]).status_code == 204


def test_dry_run_api(server: dict[str, Any], seeded: dict[str, str]) -> None:
    only_connection = {
        "type": "AND",
        "values": [{"key": "$exception_types", "operator": "exact", "value": ["ConnectionError"], "type": "event"}],
    }
    response = api_post(server, "suppression_rules/dry_run/", {"filters": only_connection})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["matched_events"], body["matched_issues"]) == (1, 1) and body["events_in_window"] >= 4
    assert body["match_all"] is False and body["matches_everything"] is False
    assert [issue["events"] for issue in body["top_issues"]] == [1]
    assert body["summary"].startswith("Matches 1 of the last 7 days' ")
    everything = api_post(server, "suppression_rules/dry_run/", {}).json()
    assert everything["match_all"] is True and everything["affected_events"] == everything["events_in_window"]
    none_dropped = api_post(server, "suppression_rules/dry_run/", {"sampling_rate": 0}).json()
    assert none_dropped["matched_events"] >= 4 and none_dropped["affected_events"] == 0
    bad = api_post(
        server,
        "assignment_rules/dry_run/",
        {"filters": {"type": "AND", "values": [{"key": "$lib", "operator": "regex", "value": "(", "type": "event"}]}},
    )
    assert bad.status_code == 400 and bad.json()["type"] == "validation_error", bad.text
    assert api(server, "suppression_rules/")["count"] == 0


# -- search --------------------------------------------------------------------------------------------------------


def _listed(page: Any) -> list[str]:
    return page.locator("tr.issue-row .issue-title").all_inner_texts()


def test_search_box_words_phrases_and_users(server: dict[str, Any], seeded: dict[str, str], ui: Any) -> None:
    def search(text: str) -> list[str]:
        ui.goto(project_url(server, "issues?status=all"))
        ui.fill("input[name=q]", text)
        ui.press("input[name=q]", "Enter")
        ui.wait_for_load_state()
        return sorted(_listed(ui))

    assert search("gateway payment") == ["ConnectionError"]  # words in any order
    assert search('"gateway payment"') == []  # a phrase must be adjacent
    assert search('"payment gateway"') == ["ConnectionError"]
    assert search("TypeError cart") == ["TypeError"]
    assert search("cart sku") == ["KeyError", "TypeError"]
    assert search("user:cart-user") == ["KeyError", "TypeError"]
    assert search("user:cart-user TypeError") == ["TypeError"]
    assert search("function:charge_card") == ["ConnectionError"]
    assert search("file:test_ui_hazards.py cart has no") == ["KeyError"]


# -- split ---------------------------------------------------------------------------------------------------------


def test_split_names_issues_and_fingerprints_say_what_they_are(
    server: dict[str, Any], seeded: dict[str, str], ui: Any
) -> None:
    def refund(order: str) -> None:
        raise PermissionError(f"refund of {order} needs approval")

    def ship(order: str) -> None:
        raise TimeoutError(f"courier did not answer for {order}")

    _capture(server, [(refund, "order-9", "ops-2"), (ship, "order-9", "ops-2")])
    assert wait_until(lambda: bool(issues(server, "needs approval")) and bool(issues(server, "courier did not")))
    target, source = issues(server, "needs approval")[0]["id"], issues(server, "courier did not")[0]["id"]
    assert api_post(server, f"issues/{target}/merge/", {"ids": [source]}).status_code == 200
    ui.goto(project_url(server, f"issues/{target}"))
    rows = ui.locator("li.fingerprint")
    assert rows.count() == 2
    texts = sorted(rows.all_inner_texts())
    assert re.search(
        r"PermissionError: refund of order-9 needs approval\s+in refund \(.*test_ui_hazards\.py:\d+\)\s+1 event",
        texts[0],
    ), texts[0]
    assert re.search(
        r"TimeoutError: courier did not answer for order-9\s+in ship \(.*test_ui_hazards\.py:\d+\)\s+1 event", texts[1]
    ), texts[1]
    screenshot(ui, "issue-fingerprints")
    ui.locator("li.fingerprint", has_text="TimeoutError").locator("input[name=fingerprints]").check()
    ui.click("#split-form button[type=submit]")
    ui.wait_for_load_state()
    assert ui.locator(".flash").inner_text() == "Split 1 fingerprint off into a new issue."
    ui.locator("ol.activity a", has_text="new issue 1").click()
    ui.wait_for_load_state()
    assert ui.locator("#issue-title").inner_text() == "TimeoutError"
    assert ui.locator(".issue-desc").inner_text() == "courier did not answer for order-9"


# -- in-app --------------------------------------------------------------------------------------------------------


def test_standard_library_frames_are_library_frames(server: dict[str, Any], seeded: dict[str, str], ui: Any) -> None:
    event = api(server, f"issues/{seeded['json']}/events/")["results"][0]
    ui.goto(project_url(server, f"issues/{seeded['json']}"))
    opened = ui.locator("li.frame.in-app details[open] .fn").first.inner_text()
    assert opened == "parse_settings"  # not json/decoder.py's raw_decode
    library = ui.locator("li.frame.lib .loc").all_text_contents()  # folded: hidden, but there
    assert len(library) == 3 and not any("test_ui_hazards" in loc for loc in library), library
    assert sum("json/decoder.py" in loc for loc in library) == 2, library
    frames = event["properties"]["$exception_list"][0]["stacktrace"]["frames"]
    assert {f["resolved_name"]: f["in_app"] for f in frames}["parse_settings"] is True
    assert any(f["in_app"] is False and "json" in (f.get("source") or "") for f in frames)


# -- activity ------------------------------------------------------------------------------------------------------


def test_activity_sentences_and_rule_assignment(server: dict[str, Any], seeded: dict[str, str], ui: Any) -> None:
    me = httpx.get(f"{server['url']}/api/users/@me/", headers=server["headers"]).json()
    rule = api_post(
        server,
        "assignment_rules/",
        {
            "filters": {
                "type": "AND",
                "values": [{"key": "$exception_types", "operator": "exact", "value": ["LookupError"], "type": "event"}],
            },
            "assignee": {"type": "user", "id": me["id"]},
        },
    )
    assert rule.status_code == 201, rule.text

    def lookup(_: str) -> None:
        raise LookupError("warehouse has no stock")

    _capture(server, [(lookup, "x", "ops-1")])
    assert wait_until(lambda: bool(issues(server, "warehouse has no stock")), timeout_s=60)
    [issue] = issues(server, "warehouse has no stock")
    ui.goto(project_url(server, f"issues/{issue['id']}"))
    activity = ui.locator("ol.activity")
    assert "System assigned the issue to you (an assignment rule matched its first event)" in activity.inner_text()
    assert activity.evaluate("el => getComputedStyle(el).listStyleType") == "none"

    ui.goto(project_url(server, f"issues/{seeded['cart']}"))
    me_option = ui.locator("#assignee option", has_text="(you)").get_attribute("value")
    ui.select_option("#assignee", value=me_option)
    ui.click("form[action$='/assign'] button[type=submit]")
    ui.wait_for_load_state()
    assert "You assigned the issue to yourself" in ui.locator("ol.activity").inner_text()


# -- phone layout and compression ---------------------------------------------------------------------------------


def test_phone_pages_fit_and_keep_their_navigation(server: dict[str, Any], seeded: dict[str, str], phone: Any) -> None:
    pages = {
        "issues-list": "issues?status=all",
        "issue-long-token": f"issues/{seeded['cart']}",
        "issue-library-frames": f"issues/{seeded['json']}",
        "rules-suppression": "rules/suppression",
        "rules-assignment": "rules/assignment",
    }
    for name, path in pages.items():
        phone.goto(project_url(server, path))
        _fits(phone)
        # Every nav item and tab is on screen (wrapped), not behind a hidden scrollbar.
        for selector in (".mainnav a", ".tabs a"):
            for box in [link.bounding_box() for link in phone.locator(selector).all()]:
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        screenshot(phone, f"phone-{name}")
    phone.goto(project_url(server, "issues?status=all"))
    seen = phone.locator("tr.issue-row td.seen").first
    assert seen.is_visible() and "last" in seen.inner_text() and "first" in seen.inner_text()
    for counts in phone.locator("tr.issue-row .mobile-only").all_inner_texts():
        assert re.fullmatch(r"(1 event|([02-9]|\d\d+) events) · (1 user|([02-9]|\d\d+) users)", counts), counts


def test_html_is_gzipped_capture_and_api_are_not(server: dict[str, Any], seeded: dict[str, str], ui: Any) -> None:
    response = ui.goto(project_url(server, "issues?status=all"))
    assert response is not None and response.headers.get("content-encoding") == "gzip"
    screenshot(ui, "issues-list-laptop")
    capture = httpx.post(
        f"{server['url']}/i/v0/e/",
        json={"api_key": server["project_token"], "event": "$pageview", "distinct_id": "x", "properties": {}},
        headers={"Accept-Encoding": "gzip"},
    )
    assert capture.status_code == 200 and "content-encoding" not in capture.headers
    listing = httpx.get(api_url(server, "issues/"), headers={**server["headers"], "Accept-Encoding": "gzip"})
    assert listing.status_code == 200 and "content-encoding" not in listing.headers
