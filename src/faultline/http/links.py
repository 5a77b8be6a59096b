"""Absolute links in API answers (pagination `next`/`previous`, activity pages) are built on `FAULTLINE_PUBLIC_URL`.

The `Host` header is chosen by the client: building links from it let a request with `Host: evil.invalid` receive
`"next": "http://evil.invalid/…"`, which a cache or a proxy in front of Faultline may hand to other clients, and
which is wrong behind a proxy that rewrites the host. The configured public URL is what SDKs and people use.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from faultline.http.deps import get_settings


def public_url(request: Request, query: list[tuple[str, str]] | None = None) -> str:
    """This request's path on the public URL, with `query` (or the request's own query string) appended."""
    base = get_settings(request).public_url.rstrip("/")
    encoded = urlencode(query) if query is not None else request.url.query
    return f"{base}{request.url.path}" + (f"?{encoded}" if encoded else "")
