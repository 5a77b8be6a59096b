"""Error pages: the UI answers every failure with an HTML page and the right status, never a JSON blob or a 500.

API routes keep PostHog's JSON error shape; the handlers installed here only take over for UI paths (and for
browsers asking for HTML at an unknown UI URL).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from faultline.web.paths import is_web_path
from faultline.web.templating import get_templates

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported form encoding",
    429: "Too many requests",
    500: "Something went wrong",
}


class WebError(Exception):
    def __init__(self, status_code: int, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.title = title or TITLES.get(status_code, "Error")


class LoginRequired(Exception):
    """Raised by page dependencies when no session is present; answered with a redirect to the login page."""


def not_found(what: str = "page") -> WebError:
    return WebError(404, f"This {what} does not exist, or you do not have access to it.")


def error_page(request: Request, status_code: int, message: str, title: str | None = None) -> Response:
    return get_templates(request).response(
        request,
        "error.html",
        {"status_code": status_code, "title": title or TITLES.get(status_code, "Error"), "message": message},
        status_code=status_code,
    )


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError) -> Response:
        return error_page(request, exc.status_code, exc.message, exc.title)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        return login_redirect(request)

    api_http: Handler | None = app.exception_handlers.get(StarletteHTTPException)
    api_unexpected: Handler | None = app.exception_handlers.get(Exception)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_web_path(request.url.path):
            message = "This page does not exist." if exc.status_code == 404 else str(exc.detail)
            return error_page(request, exc.status_code, message)
        assert api_http is not None
        return await api_http(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if is_web_path(request.url.path):
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_page(request, 500, "The server hit an unexpected error; it has been logged.")
        assert api_unexpected is not None
        return await api_unexpected(request, exc)
