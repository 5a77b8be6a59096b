"""CORS for the endpoints SDKs call from customers' pages (capture, remote config): any origin may call them.

No cookies are involved, but echoing the origin (with credentials allowed) also suits SDKs configured to send
credentials; `Vary: Origin` keeps shared caches from serving one site's answer to another.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    headers = {"Access-Control-Allow-Origin": origin or "*", "Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight_response(request: Request, methods: str) -> Response:
    """The answer to an `OPTIONS` preflight: the asked-for headers are allowed, and browsers may cache it a day."""
    headers = cors_headers(request)
    headers["Access-Control-Allow-Methods"] = methods
    headers["Access-Control-Allow-Headers"] = (
        request.headers.get("access-control-request-headers") or "Content-Type, Authorization"
    )
    headers["Access-Control-Max-Age"] = "86400"
    return Response(status_code=200, headers=headers)
