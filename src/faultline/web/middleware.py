"""Turns the session cookie into `request.state.session_user_id` for the UI and for the REST API.

The API's auth layer (`faultline.accounts.access`) already accepts a session user; this is where one comes from.
Two rules keep that safe:

* Capture endpoints never look at cookies (the ingestion hot path pays nothing for the UI).
* A session authenticates an API *write* only with the session's CSRF token in `X-CSRFToken` (as in PostHog/Django),
  so a cross-site form cannot make a logged-in browser change data through the API. Reads need no token.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from faultline.db import Database
from faultline.web import sessions
from faultline.web.paths import is_api_path, is_web_path

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = b"x-csrftoken"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def _lookup(db: Database, token: str) -> sessions.ActiveSession | None:
    with db.read() as session:
        active, stale = sessions.lookup(session, token)
    if active is not None and stale:
        with db.write() as session:
            sessions.touch(session, active.id)
    return active


class SessionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._attach(scope)
        await self.app(scope, receive, send)

    async def _attach(self, scope: Scope) -> None:
        path: str = scope.get("path", "")
        web, api = is_web_path(path), is_api_path(path)
        if not (web or api):
            return
        cookie_header = _header(scope, b"cookie")
        if not cookie_header or sessions.COOKIE_NAME not in cookie_header:
            return
        token = cookie_parser(cookie_header).get(sessions.COOKIE_NAME, "")
        if not sessions.plausible_token(token):
            return
        db: Database = scope["app"].state.db
        active = await anyio.to_thread.run_sync(_lookup, db, token)
        if active is None:
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["web_session"] = active
        unsafe_api_call = api and scope.get("method") not in SAFE_METHODS
        if unsafe_api_call and not sessions.csrf_matches(active.csrf_token, _header(scope, CSRF_HEADER)):
            return
        state["session_user_id"] = active.user_id
