"""CORS for the endpoints SDKs call from web pages (capture, remote config)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def cors_headers(request: Request) -> dict[str, str]:
    """SDKs call from any site; no cookies are involved, but echoing the origin also suits credentialed calls."""
    origin = request.headers.get("origin")
    headers = {"Access-Control-Allow-Origin": origin or "*", "Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight_response(request: Request, methods: str) -> Response:
    """The answer to a browser's OPTIONS preflight: any origin, the headers it asks for, cached for a day."""
    headers = cors_headers(request)
    headers.update(
        {
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": request.headers.get("access-control-request-headers")
            or "Content-Type, Authorization",
            "Access-Control-Max-Age": "86400",
        }
    )
    return Response(status_code=200, headers=headers)
