"""Capture routes are matched first (FastAPI walks routes in order; walking the ~500 API/UI routes before a capture
endpoint took two thirds of the HTTP thread under load, README "Performance"), and putting them first shadows
nothing: no other route answers a capture path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter

CAPTURE_MODULES = ("faultline.ingest.capture", "faultline.ingest.sentry")


def flat(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes in the order the router tries them (included routers expanded)."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            yield from flat(route.effective_candidates())
        else:
            yield route


def is_capture(route: Any) -> bool:
    endpoint = getattr(route, "endpoint", None)
    return endpoint is not None and endpoint.__module__ in CAPTURE_MODULES


def example_paths(route: Any) -> list[str]:
    """The route's path with every parameter 0 and 1 (sentry-cli's API lives under `/api/0/`)."""
    return [re.sub(r"\{[^}]+\}", value, route.path) for value in ("0", "1")]


def test_capture_routes_come_first(app: FastAPI) -> None:
    routes = [r for r in flat(app.routes) if hasattr(r, "path")]
    capture = [i for i, r in enumerate(routes) if is_capture(r)]
    assert len(capture) >= 20  # /e/, /batch/, /i/v0/e/, … and /api/<id>/envelope/, /api/<id>/store/
    others_before = [r.path for r in routes[: max(capture)] if not is_capture(r)]
    assert set(others_before) <= {"/api/schema/", "/_health"}  # FastAPI's own schema route, then the health check


def test_no_other_route_answers_a_capture_path(app: FastAPI) -> None:
    routes = [r for r in flat(app.routes) if hasattr(r, "path_regex")]
    for capture in filter(is_capture, routes):
        for path in example_paths(capture):
            for other in routes:
                if is_capture(other) or not other.path_regex.match(path):
                    continue
                methods = getattr(other, "methods", None)
                assert methods is not None and not (methods & capture.methods), (capture.path, other.path)
