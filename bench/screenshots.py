"""Screenshots of every UI page at laptop (1280 px) and phone (390 px) width into build/screenshots/.

Starts `faultline serve` on a fresh data directory (tests/support/live_server.py), sends a few errors with the real
posthog PyPI SDK (a chain, a standard-library frame, a long unbreakable token, two fingerprints merged into one
issue), then logs in with the system Chromium (tests/support/browser.py) and saves each page — the issue list, an
issue page, the rule pages with a rule preview showing, settings, symbol sets, releases, ingestion, account,
organizations. It also fails if a page scrolls sideways at phone width, so it doubles as a quick layout check.

    .venv/bin/python bench/screenshots.py            # → build/screenshots/<page>-<laptop|phone>.png

Not part of `make test` (the browser tests write their own screenshots there too).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from posthog import Posthog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.ui_support import LAPTOP, PHONE, SCREENSHOTS, horizontal_overflow, log_in  # noqa: E402
from tests.support.browser import USER_AGENT, launch_chromium  # noqa: E402
from tests.support.live_server import LiveServer, wait_until  # noqa: E402


def checkout(order: str) -> None:
    try:
        json.loads(order)
    except ValueError as exc:
        raise RuntimeError(f"checkout failed for {order}") from exc


def add_to_cart(item: str) -> None:
    raise TypeError(f"cannot add {item} to cart " + "VeryLongMinifiedIdentifier" * 10)


def refund(order: str) -> None:
    raise PermissionError(f"refund of {order} needs approval")


def ship(order: str) -> None:
    raise TimeoutError(f"courier did not answer for {order}")


def _seed(server: dict[str, Any]) -> dict[str, str]:
    client = Posthog(server["project_token"], host=server["url"], sync_mode=True)
    for function, argument, user in [
        (checkout, "{order-1", "alice"),
        (add_to_cart, "sku-1", "bob"),
        (refund, "order-9", "carol"),
        (ship, "order-9", "carol"),
    ]:
        try:
            function(argument)
        except Exception as caught:
            client.capture_exception(caught, distinct_id=user)
    client.shutdown()
    headers = {"Authorization": f"Bearer {server['api_key']}"}
    base = f"{server['url']}/api/environments/{server['project_id']}/error_tracking/"

    def find(text: str) -> str | None:
        found = httpx.get(base + "issues/", params={"search": text, "status": "all"}, headers=headers).json()
        return found["results"][0]["id"] if found["results"] else None

    wait_until(lambda: all(find(t) for t in ("checkout failed", "cannot add", "needs approval", "courier")))
    ids = {name: find(text) or "" for name, text in (("chain", "checkout failed"), ("long", "cannot add"))}
    target, source = find("needs approval"), find("courier")
    httpx.post(base + f"issues/{target}/merge/", json={"ids": [source]}, headers=headers)
    ids["merged"] = target or ""
    return ids


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="faultline-screenshots-")) / "data"
    live = LiveServer(data_dir=data_dir)
    live.start()
    problems: list[str] = []
    try:
        server = {**live.credentials(), "url": live.url}
        ids = _seed(server)
        project = f"{live.url}/project/{server['project_id']}"
        pages = {
            "issues": f"{project}/issues?status=all",
            "issues-search": f"{project}/issues?status=all&q=cart+TypeError",
            "issue-chain": f"{project}/issues/{ids['chain']}",
            "issue-long-token": f"{project}/issues/{ids['long']}",
            "issue-fingerprints": f"{project}/issues/{ids['merged']}",
            "rules-suppression": f"{project}/rules/suppression",
            "rules-grouping": f"{project}/rules/grouping",
            "rules-assignment": f"{project}/rules/assignment",
            "autocapture": f"{project}/autocapture",
            "symbol-sets": f"{project}/symbol-sets",
            "releases": f"{project}/releases",
            "ingestion": f"{project}/ingestion",
            "settings": f"{project}/settings",
            "projects": f"{live.url}/projects/",
            "account": f"{live.url}/account",
            "organizations": f"{live.url}/organizations",
        }
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with launch_chromium() as browser:
            for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
                context = browser.new_context(viewport=viewport, user_agent=USER_AGENT)
                page = context.new_page()
                log_in(page, live.url, server["login"], server["password"])
                for name, url in pages.items():
                    page.goto(url)
                    overflow = horizontal_overflow(page)
                    if overflow > 0:
                        problems.append(f"{name} at {size}: {overflow} px of horizontal scroll")
                    page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
                # The rule preview of a blank (match-all) suppression rule.
                page.goto(pages["rules-suppression"])
                page.click("form.rule-form button[type=submit]")
                page.wait_for_load_state()
                page.screenshot(path=str(SCREENSHOTS / f"rules-preview-{size}.png"), full_page=True)
                context.close()
    finally:
        live.stop()
    print(f"{len(pages) * 2 + 2} screenshots in {SCREENSHOTS}", file=sys.stderr)
    for problem in problems:
        print("layout:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
