"""Route registration conventions shared by every domain router.

* Every path answers with and without its trailing slash (SDKs and the CLI disagree, and a 307 redirect on a POST
  is not followed by every client). The slash form is the documented one.
* Project-scoped routers answer under both `/api/environments/{project_id}` (documented) and the older
  `/api/projects/{project_id}` that the posthog-cli still calls.

Both are answered by `PathAliases`, the router's fallback for a path no route matched, rather than by registering
every route up to four times: FastAPI builds a full route object per registration and inclusion (~15 KiB each; the
twins and the second prefix were 8 of the 11 MiB the route tables took, and the table the router walks for every
request was four times longer). Only the capture routers (`Router(slash_twins=True)`), which SDKs call thousands of
times a second in both spellings, keep a registered twin, so no capture request pays for a second walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import starlette.routing
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from faultline.http.storable import StorableJSONRoute

ENVIRONMENTS_PREFIX = "/api/environments/{project_id}"
PROJECTS_PREFIX = "/api/projects/{project_id}"


class Router(APIRouter):
    """APIRouter that, with `slash_twins`, registers each path twice: with and without the trailing slash."""

    def __init__(self, *args: Any, slash_twins: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", StorableJSONRoute)  # every JSON body made storable (faultline.http.storable)
        super().__init__(*args, **kwargs)
        self.slash_twins = slash_twins

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        if not self.slash_twins:
            return
        twin = path[:-1] if path.endswith("/") else path + "/"
        if twin == path:
            return
        hidden = dict(kwargs)
        hidden["include_in_schema"] = False
        if hidden.get("operation_id"):
            hidden["operation_id"] = hidden["operation_id"] + "_alt"
        super().add_api_route(twin, endpoint, **hidden)


def include_project_router(app: FastAPI, router: APIRouter) -> None:
    """Mount under the documented prefix; `PathAliases` answers the older one."""
    app.include_router(router, prefix=ENVIRONMENTS_PREFIX)


def alternate_paths(path: str) -> list[str]:
    """Other spellings of `path` that name the same route, in the order they are tried: the slash toggled, then
    (for `/api/projects/…`) the documented prefix, as typed and with the slash toggled."""

    def toggled(p: str) -> str:
        return p[:-1] if p.endswith("/") else p + "/"

    found = [toggled(path)] if path not in ("", "/") else []
    old, new = PROJECTS_PREFIX.split("{")[0], ENVIRONMENTS_PREFIX.split("{")[0]
    if path.startswith(old):
        aliased = new + path[len(old) :]
        found += [aliased, toggled(aliased)]
    return found


class PathAliases:
    """The router's fallback when no route matched the path as sent: dispatch to the route one of its
    `alternate_paths` names (in that path's scope, so the handler sees the canonical path), else answer as the
    router would have (405 for a known path with another method, else 404)."""

    def __init__(self, router: starlette.routing.Router, default: ASGIApp) -> None:
        self.router = router
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            root = scope.get("root_path", "")
            base = root if root and path.startswith(root) else ""
            partial: tuple[starlette.routing.BaseRoute, Scope] | None = None
            for candidate in alternate_paths(path[len(base) :]):
                full = base + candidate
                alias: Scope = {**scope, "path": full, "raw_path": full.encode()}
                for route in self.router.routes:
                    match, child = route.matches(alias)
                    if match is starlette.routing.Match.FULL:
                        alias["route"] = route
                        alias.update(child)
                        await route.handle(alias, receive, send)
                        return
                    if match is starlette.routing.Match.PARTIAL and partial is None:
                        partial = (route, {**alias, **child, "route": route})
            if partial is not None:
                await partial[0].handle(partial[1], receive, send)
                return
        await self.default(scope, receive, send)


def install_path_aliases(app: FastAPI) -> None:
    """Answer every alternate spelling of a path (see the module docstring); call once, after the routes."""
    app.router.redirect_slashes = False
    app.router.default = PathAliases(app.router, app.router.default)


def warm_route_table(app: Any) -> None:
    """Build FastAPI's per-router route tables now rather than on the first request that walks them all.

    FastAPI (0.16x) builds the effective routes of each included router lazily, under a lock and holding the GIL:
    the first request that misses every earlier route (a 404, or any UI/API page after the capture routes) paid
    ~1.4 s on the 2-core box, 5 s under load, while `/_health` and every capture request waited. Asking each route
    whether it matches a path no route has walks every table exactly as that request would. Any other ASGI app
    (one wrapped in middleware, a test's stand-in) has no tables of ours to build."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/\x00warm-up",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    router = getattr(app, "router", None)
    for route in getattr(router, "routes", ()):
        route.matches(scope)
