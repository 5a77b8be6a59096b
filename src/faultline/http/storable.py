"""Make untrusted strings storable on both databases, for every JSON body of the REST API at once.

PostgreSQL rejects NUL in `text` and `\\u0000` in `jsonb`; SQLite's driver cannot encode lone UTF-16 surrogates
(which JSON allows, e.g. `"\\ud800"`). Either turned a user's odd input into a 500 wherever a string from a body
reached a column (schemathesis kept finding new ones: a project's name, a chunk id). Cleaning each field where it
is stored missed fields; `StorableJSONRoute` cleans the decoded body of every route of `faultline.http.routing.Router`
instead (NUL and lone surrogates become U+FFFD, as the digest pipeline does), before validation sees it. Lookup
values that could never match a stored string are recognised with `is_storable`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In raw JSON bytes: a NUL, its escape, or a surrogate escape (valid pairs decode to one character and are kept).
_MAYBE_UNSTORABLE = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F]")


def clean_text(value: str) -> str:
    """The string with every character neither database can store replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_json(value: Any, _depth: int = 0) -> Any:
    """A JSON value with every string (keys included) cleaned; nesting beyond 64 levels is rejected by callers."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, _depth + 1) for v in value]
    return value


def is_storable(value: str) -> bool:
    """False when no stored (cleaned) string can equal `value`, so a lookup can answer "not found" directly."""
    return _UNSTORABLE.search(value) is None


class StorableJSONRequest(Request):
    """`json()` with unstorable characters cleaned; the byte scan keeps ordinary bodies from being walked."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = await super().json()
            if _MAYBE_UNSTORABLE.search(body):
                try:
                    value = clean_json(value)
                except RecursionError:  # absurdly deep: left as decoded, the route's validation refuses it
                    pass
            self._json = value
        return self._json


class StorableJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def storable_json_handler(request: Request) -> Response:
            return await handler(StorableJSONRequest(request.scope, request.receive))

        return storable_json_handler
