"""gzip for the UI's pages: the issue list is ~135 KB of HTML that compresses to ~7 KB.

Starlette's `GZipMiddleware` does the work; this wrapper only decides *where* it applies: UI paths (HTML pages and
the few JSON answers of the UI). Capture endpoints never pass through it (SDK acknowledgements are tiny, and the
ingest hot path must not pay for a compressor), nor the REST API or static files (`FileResponse` streams, and the
brief for the UI was "pages, not downloads"). Responses below `MINIMUM_SIZE` bytes are sent as they are: a redirect
or a flash message gains nothing from a gzip header.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from faultline.web.paths import is_web_path

MINIMUM_SIZE = 1024
# Level 6 (zlib's default): the 135 KB list compresses in well under a millisecond; 9 buys ~2 % for 2× the CPU.
COMPRESS_LEVEL = 6


class UIGZipMiddleware:
    """Compress UI responses when the browser accepts gzip; pass everything else through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_SIZE, compresslevel=COMPRESS_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_web_path(scope.get("path", "")):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
