"""Real browser SDKs in headless Chromium, for any test that needs them (SDK tests, UI tests).

* `tests/browser/` pins the npm packages (posthog-js…); `make test` runs `npm ci` there, and `ensure_npm_packages()`
  does the same when a test file is run on its own.
* `launch_chromium()` starts the system `/usr/bin/chromium` (never a downloaded browser) the way browser-sdk-notes.md
  prescribes: posthog-js silently drops every event from a browser that looks automated, so the automation flag is
  removed and a regular desktop Chrome user agent is used (pass it to `new_context(user_agent=USER_AGENT)`).
* `PageServer` serves the test's own HTML and the SDK bundles from another origin than the server under test, so
  CORS is exercised exactly as on a customer's site.
* `SentRequests` records what the page sent to a given origin and decodes posthog-js bodies (gzip, base64 forms).
"""

from __future__ import annotations

import base64
import fcntl
import gzip
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
NODE_MODULES = BROWSER_DIR / "node_modules"
POSTHOG_JS = NODE_MODULES / "posthog-js" / "dist" / "array.full.js"
SENTRY_BROWSER = NODE_MODULES / "@sentry" / "browser" / "package.json"
CHROMIUM = "/usr/bin/chromium"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-blink-features=AutomationControlled",
    f"--user-agent={USER_AGENT}",
]

_install_lock = threading.Lock()


def ensure_npm_packages() -> None:
    """Install the pinned npm packages if they are missing (what `make test` does up front).

    Fails (never skips) when npm is missing or `npm ci` fails: a browser test that quietly does not run would hide
    exactly the breakage it exists to catch. A file lock keeps parallel pytest workers from running `npm ci` into
    the same directory at once.
    """
    with _install_lock:
        if POSTHOG_JS.exists() and SENTRY_BROWSER.exists():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install tests/browser packages (posthog-js); install Node.js")
        with (BROWSER_DIR / ".npm-install.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if POSTHOG_JS.exists() and SENTRY_BROWSER.exists():  # another worker installed them while we waited
                return
            result = subprocess.run(
                [npm, "ci", "--prefix", str(BROWSER_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
                capture_output=True,
                text=True,
                timeout=300,
            )
        if result.returncode != 0 or not POSTHOG_JS.exists() or not SENTRY_BROWSER.exists():
            raise RuntimeError(f"`npm ci` in {BROWSER_DIR} failed ({result.returncode}):\n{result.stderr[-2000:]}")


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A Playwright Browser on the system Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (Debian package `chromium`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--enable-automation"],
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageServer:
    """Serves `pages` (path → HTML) and `files` (path → file on disk) on 127.0.0.1 in a background thread."""

    pages: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> PageServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path in owner.pages:
                    body, kind = owner.pages[path].encode(), "text/html; charset=utf-8"
                elif path in owner.files:
                    body, kind = owner.files[path].read_bytes(), "application/javascript"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def decode_posthog_body(url: str, body: bytes | None) -> list[dict[str, Any]]:
    """The events in a posthog-js capture request, whatever encoding the SDK chose."""
    if not body:
        return []
    query = parse_qs(urlsplit(url).query)
    data = body
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data.startswith(b"data="):
        data = base64.b64decode(unquote_plus(data[5:].decode()))
    elif query.get("compression") == ["base64"]:
        data = base64.b64decode(data)
    document = json.loads(data)
    if isinstance(document, dict) and "batch" in document:
        return list(document["batch"])
    if isinstance(document, list):
        return document
    return [document]


@dataclass
class SentRequests:
    """Every request a page sent to `origin`, with decoded events for capture calls."""

    origin: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, url)
    events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, page: Any) -> None:
        page.on("request", self._on_request)

    def _on_request(self, request: Any) -> None:
        if not request.url.startswith(self.origin):
            return
        with self._lock:
            self.requests.append((request.method, request.url))
        path = urlsplit(request.url).path
        if request.method == "POST" and path.rstrip("/") in ("/e", "/i/v0/e", "/batch", "/capture"):
            try:
                decoded = decode_posthog_body(request.url, request.post_data_buffer)
            except (ValueError, OSError):
                decoded = []
            with self._lock:
                self.events.extend(decoded)

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == event]

    def paths(self) -> list[str]:
        with self._lock:
            return [urlsplit(url).path for _, url in self.requests]

    def wait_for(self, page: Any, condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        """Poll `condition` while letting the page run; False if it never became true."""
        waited = 0.0
        while waited < timeout_s:
            if condition():
                return True
            page.wait_for_timeout(200)
            waited += 0.2
        return condition()


def exception_types(event: dict[str, Any]) -> list[str]:
    return [e.get("type") for e in event.get("properties", {}).get("$exception_list", [])]


_SKIPPED_CONDITIONS = ("types", "require", "react-native", "development", "node")


def _export_target(value: Any) -> str | None:
    """The browser ESM file of one `exports` entry: the `import` (else `browser`/`production`/`default`) branch."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    for condition in ("import", "browser", "production", "default"):
        if condition in value:
            found = _export_target(value[condition])
            if found:
                return found
    return None


def esm_site(*packages: str, prefix: str = "/npm") -> tuple[dict[str, str], dict[str, Path]]:
    """An import map and the files to serve for npm packages loaded as native ES modules (no bundler): each
    package's `exports` entries (or `module` field) become import-map entries, its dependencies likewise, and every
    `.js`/`.mjs` file under the packages is served below `prefix`. This is how the real npm build of an SDK such as
    `@sentry/browser` runs in Chromium exactly as published."""
    imports: dict[str, str] = {}
    files: dict[str, Path] = {}
    pending, seen = list(packages), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        root = NODE_MODULES / name
        meta = json.loads((root / "package.json").read_text())
        exports = meta.get("exports")
        entries = exports if isinstance(exports, dict) and any(k.startswith(".") for k in exports) else {".": exports}
        for key, value in entries.items():
            target = _export_target(value) or (meta.get("module") if key == "." else None)
            if target and target.endswith((".js", ".mjs")):
                imports[name + key[1:]] = f"{prefix}/{name}/{target.removeprefix('./')}"
        for path in root.rglob("*"):
            if (
                path.suffix in (".js", ".mjs")
                and "cjs" not in path.parts
                and "node_modules" not in path.relative_to(root).parts
            ):
                files[f"{prefix}/{name}/{path.relative_to(root).as_posix()}"] = path
        pending.extend((meta.get("dependencies") or {}).keys())
    return imports, files
