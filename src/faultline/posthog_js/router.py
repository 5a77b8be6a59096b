"""`/static/…`: the posthog-js files browsers load from the api_host (see the package docstring).

Public and cookie-less like PostHog's CDN; scripts are loaded with `crossOrigin="anonymous"`, so every answer
carries `Access-Control-Allow-Origin`. Versioned paths are immutable and cached for a year; unversioned ones
(`/static/array.js`, whatever is newest) for an hour. A miss is logged once per file with the command that fixes
it: an admin whose users' autocapture "does nothing" can then find out why.
"""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import FileResponse, Response

from faultline.config import Settings
from faultline.http import errors
from faultline.posthog_js.store import VERSION, AssetStore, default_root

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=3600"
CORS = {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
MAX_WARNINGS = 100


class MissWarnings:
    """Remembers which misses were already logged, so a busy site cannot flood the log."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen or len(self._seen) >= MAX_WARNINGS:
                return False
            self._seen.add(key)
            return True


def install(app: FastAPI, settings: Settings) -> None:
    app.state.posthog_js = AssetStore(default_root(settings))
    app.state.posthog_js_misses = MissWarnings()
    app.include_router(router)


def _not_found(request: Request, store: AssetStore, wanted: str, version: str | None) -> Response:
    """404 in the API's error shape. Logged once per path: as a warning when nothing is installed (the SDK's
    lazy-loaded features are then off for every visitor), at info level when posthog-js will fall back to the
    unversioned path that an installed version answers."""
    if request.app.state.posthog_js_misses.first(wanted):
        installed = store.versions()
        suggestion = version if version and VERSION.fullmatch(version) else "latest"
        log.log(
            logging.INFO if installed and version else logging.WARNING,
            "a browser asked for /static/%s, which no installed posthog-js version provides (installed: %s); "
            "run `faultline posthog-js install %s` to serve it (posthog-js loads exception autocapture from here)",
            wanted,
            ", ".join(installed) or "none",
            suggestion,
        )
    response = errors.error_response(errors.not_found(f"/static/{wanted} is not installed on this server."))
    response.headers.update(CORS)
    return response


def _serve(request: Request, store: AssetStore, version: str, name: str, cache: str) -> Response:
    path = store.file(version, name)
    if path is None:
        return _not_found(request, store, f"{version}/{name}", version)
    stat = path.stat()
    etag = f'"{version}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    headers = {**CORS, "Cache-Control": cache, "ETag": etag, "X-Posthog-Js-Version": version}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type="application/javascript; charset=utf-8", headers=headers, stat_result=stat)


@router.api_route("/static/{version}/{name}", methods=["GET", "HEAD"])
def versioned_file(version: str, name: str, request: Request) -> Response:
    """`/static/<version>/<name>.js` (posthog-js's default) and `/static/<major>/<name>.js` (its loader)."""
    store: AssetStore = request.app.state.posthog_js
    picked = store.pick_version(version)
    if picked is None:
        return _not_found(request, store, f"{version}/{name}", version)
    return _serve(request, store, picked, name, IMMUTABLE if picked == version else SHORT)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def unversioned_file(name: str, request: Request) -> Response:
    """`/static/array.js` (the HTML snippet) and `/static/<name>.js?v=<version>` (posthog-js's fallback)."""
    store: AssetStore = request.app.state.posthog_js
    wanted = request.query_params.get("v")
    picked = store.pick_version(wanted) if wanted else None
    picked = picked or store.newest()
    if picked is None:
        return _not_found(request, store, name, None)
    return _serve(request, store, picked, name, SHORT)


def preflight() -> Response:
    return Response(status_code=204, headers={**CORS, "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"})


for _path in ("/static/{version}/{name}", "/static/{name}"):
    router.add_api_route(_path, preflight, methods=["OPTIONS"])
