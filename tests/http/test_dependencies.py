"""Every yield dependency (database sessions above all) must finish before the response is sent.

FastAPI's default ("request") scope runs a yield dependency's exit code after the response went out: a write
session would commit after the client already received its 2xx, so a client's next request could read stale data
and a failing commit would be reported as success. This walks every route of the real app.
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _yield_dependencies(dependant: Dependant) -> list[Dependant]:
    found = []
    for sub in dependant.dependencies:
        if inspect.isgeneratorfunction(sub.call) or inspect.isasyncgenfunction(sub.call):
            found.append(sub)
        found.extend(_yield_dependencies(sub))
    return found


def _api_routes(routes: list) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        nested = getattr(route, "original_router", None)  # FastAPI includes routers lazily
        if nested is not None:
            found.extend(_api_routes(nested.routes))
    return found


def test_every_yield_dependency_is_function_scoped(app: FastAPI) -> None:
    offenders = []
    checked = 0
    for route in _api_routes(app.routes):
        for dep in _yield_dependencies(route.dependant):
            checked += 1
            if dep.scope != "function":
                offenders.append(f"{','.join(sorted(route.methods))} {route.path}: {dep.call.__name__}")
    assert checked > 50, "expected the app's routes to use session dependencies"
    assert offenders == [], "yield dependencies must use scope='function':\n" + "\n".join(offenders)


def test_write_is_visible_to_the_very_next_request(client, seed) -> None:
    """The symptom the rule prevents: a PATCH answered 200 must be readable by the next GET at once."""
    for i in range(20):
        name = f"renamed {i}"
        assert (
            client.patch(f"/api/environments/{seed.project.id}/", headers=seed.headers, json={"name": name}).status_code
            == 200
        )
        assert client.get(f"/api/environments/{seed.project.id}/", headers=seed.headers).json()["name"] == name
