"""posthog-js builds that lazy-load exception autocapture from the api_host — the HTML snippet (`/static/array.js`)
and the npm module build — in headless Chromium against a live Faultline: an *uncaught* error arrives once the
admin ran `faultline posthog-js install` (here from a loopback stand-in for the npm registry serving the real
package's files), without restarting the server. `posthog-js/full` needs nothing from the server."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.posthog_js.test_assets import Registry
from tests.support.browser import (
    NODE_MODULES,
    USER_AGENT,
    PageServer,
    SentRequests,
    ensure_npm_packages,
)
from tests.support.clock import faultline_command
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PACKAGE = NODE_MODULES / "posthog-js"

# A snippet of our own doing what PostHog's does: a stub that queues calls, then `<api_host>/static/array.js`.
SNIPPET_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Snippet shop</title>
<script>
  !function (w, d, host) {
    if (w.posthog && (w.posthog.__SV || w.posthog.__loaded)) return;
    var ph = w.posthog = []; ph._i = []; ph.__SV = 1;
    ph.init = function (token, config, name) { ph._i.push([token, config, name]); };
    "capture captureException identify register".split(" ").forEach(function (m) {
      ph[m] = function () { ph.push([m].concat([].slice.call(arguments))); };
    });
    var s = d.createElement("script"); s.async = true; s.crossOrigin = "anonymous";
    s.src = host + "/static/array.js"; d.head.appendChild(s);
  }(window, document, %(api)s);
  posthog.init(%(token)s, {api_host: %(api)s, persistence: "memory", autocapture: false});
</script></head><body>snippet</body></html>
"""

# What a bundler produces from `import posthog from "posthog-js"` (dist/module.js) or from "posthog-js/full"
# (dist/module.full.js, extensions inlined).
MODULE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Module shop</title>
<script type="module">
  import posthog from "/node_modules/posthog-js/dist/%(bundle)s";
  posthog.init(%(token)s, {api_host: %(api)s, persistence: "memory", autocapture: false});
  window.posthog = posthog;
</script></head><body>module</body></html>
"""

THROW = "setTimeout(function checkout() { throw new RangeError(%s); }, 0)"


def real_package_tarball() -> tuple[str, bytes]:
    """The installed npm package's package.json and dist/*.js, packed the way the registry serves them."""
    version = json.loads((PACKAGE / "package.json").read_text())["version"]
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        archive.add(PACKAGE / "package.json", arcname="package/package.json")
        for script in sorted((PACKAGE / "dist").glob("*.js")):
            archive.add(script, arcname=f"package/dist/{script.name}")
    return version, buffer.getvalue()


@pytest.fixture(scope="module")
def installed(live_server: LiveServer) -> Iterator[str]:
    """`faultline posthog-js install <version>` against the running server's data dir."""
    ensure_npm_packages()
    version, data = real_package_tarball()
    registry = Registry()
    registry.publish(version, data, tags=("latest",))
    try:
        result = subprocess.run(
            faultline_command("posthog-js", "install", version),
            env={**live_server.env(), "FAULTLINE_NPM_REGISTRY": registry.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        registry.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"installed posthog-js {version}" in result.stdout
    yield version


@pytest.fixture(scope="module")
def pages(live_server: LiveServer, installed: str) -> Iterator[PageServer]:
    values = {
        "token": json.dumps(live_server.credentials()["project_token"]),
        "api": json.dumps(live_server.url),
    }
    server = PageServer(
        pages={
            "/snippet.html": SNIPPET_PAGE % values,
            "/module.html": MODULE_PAGE % {**values, "bundle": "module.js"},
            "/full.html": MODULE_PAGE % {**values, "bundle": "module.full.js"},
        },
        files={
            f"/node_modules/posthog-js/dist/{name}": PACKAGE / "dist" / name for name in ("module.js", "module.full.js")
        },
    ).start()
    yield server
    server.stop()


def stored_event(db: Database, message: str) -> dict[str, Any] | None:
    """The stored properties of the event carrying `message`, polled until the digest worker has stored it."""

    def find() -> dict[str, Any] | None:
        with db.read() as session:
            for properties in session.execute(sa.select(Event.properties)).scalars():
                if any(e.get("value") == message for e in properties.get("$exception_list", [])):
                    return properties
        return None

    return wait_until(find)


@pytest.mark.parametrize("build", ["snippet", "module", "full"])
def test_uncaught_error_arrives(
    build: str, chromium: Any, pages: PageServer, live_server: LiveServer, live_db: Database, installed: str
) -> None:
    context = chromium.new_context(user_agent=USER_AGENT)
    page = context.new_page()
    sent = SentRequests(origin=live_server.url)
    sent.attach(page)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(f"{pages.url}/{build}.html")
        # Exception autocapture starts once the lazily loaded extension has registered itself.
        page.wait_for_function(
            "() => !!(window.__PosthogExtensions__ && window.__PosthogExtensions__.errorWrappingFunctions)",
            timeout=20_000,
        )
        page.wait_for_timeout(300)
        message = f"uncaught in the {build} build"
        page.evaluate(THROW % json.dumps(message))
        properties = stored_event(live_db, message)
    finally:
        context.close()

    paths = sent.paths()
    if build == "full":  # `posthog-js/full` inlines the extension: nothing is loaded from the api_host
        assert not [path for path in paths if path.startswith("/static/")], paths
    else:
        assert f"/static/{installed}/exception-autocapture.js" in paths, paths
    if build == "snippet":
        assert "/static/array.js" in paths
    assert not [url for url in failed if "/static/" in url], failed
    assert properties is not None, (paths, sent.events)
    [exception] = properties["$exception_list"]
    assert exception["type"] == "RangeError"
    assert exception["mechanism"]["handled"] is False and properties["$exception_handled"] is False
    assert properties["$lib"] == "web" and properties["$lib_version"] == installed
