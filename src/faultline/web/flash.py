"""One-shot messages across a redirect ("API key revoked."), carried in a short-lived signed cookie.

Post/Redirect/Get keeps the browser's back and reload buttons harmless after a form; the message has to survive the
redirect, and signing it means nobody can make the UI display text of their choosing.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "faultline_flash"
MAX_AGE_SECONDS = 60
LEVELS = ("success", "info", "warning", "error")


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="faultline.flash")


def add(request: Request, response: Response, message: str, level: str = "success") -> None:
    level = level if level in LEVELS else "info"
    value = _serializer(request).dumps([[level, message[:500]]])
    response.set_cookie(COOKIE, value, max_age=MAX_AGE_SECONDS, httponly=True, samesite="lax", path="/")


def pop(request: Request) -> list[dict[str, Any]]:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 4000:
        return []
    try:
        items = _serializer(request).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return []
    messages = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item):
            messages.append({"level": item[0] if item[0] in LEVELS else "info", "text": item[1]})
    return messages


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
