"""Route registration conventions shared by every domain router.

* Every path answers with and without its trailing slash (SDKs and the CLI disagree, and a 307 redirect on a POST
  is not followed by every client). The slash form is the documented one; the other is hidden from the schema.
* Project-scoped routers are mounted under both `/api/environments/{project_id}` (documented) and the older
  `/api/projects/{project_id}` that the posthog-cli still calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI

ENVIRONMENTS_PREFIX = "/api/environments/{project_id}"
PROJECTS_PREFIX = "/api/projects/{project_id}"


class Router(APIRouter):
    """APIRouter that registers each path twice: with and without the trailing slash."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        twin = path[:-1] if path.endswith("/") else path + "/"
        if twin == path:
            return
        hidden = dict(kwargs)
        hidden["include_in_schema"] = False
        if hidden.get("operation_id"):
            hidden["operation_id"] = hidden["operation_id"] + "_alt"
        super().add_api_route(twin, endpoint, **hidden)


def include_project_router(app: FastAPI, router: APIRouter) -> None:
    app.include_router(router, prefix=ENVIRONMENTS_PREFIX)
    app.include_router(router, prefix=PROJECTS_PREFIX, include_in_schema=False)
