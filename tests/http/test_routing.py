"""Trailing slashes are optional and project routes answer under both URL prefixes."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from faultline.accounts.access import ProjectContext, project_access
from faultline.http.routing import Router, include_project_router
from tests.conftest import Tenant


def test_real_routes_with_and_without_slash(client: TestClient, seed: Tenant) -> None:
    for path in ("/api/projects/", "/api/projects", "/api/users/@me/", "/api/users/@me"):
        assert client.get(path, headers=seed.headers).status_code == 200, path
    for prefix in ("environments", "projects"):
        for suffix in ("/", ""):
            response = client.get(f"/api/{prefix}/{seed.project.id}{suffix}", headers=seed.headers)
            assert response.status_code == 200, (prefix, suffix)
            assert response.json()["id"] == seed.project.id
    created = client.post("/api/projects", headers=seed.headers, json={"name": "no slash"})
    assert created.status_code == 201


def test_project_router_is_mounted_under_both_prefixes(app: FastAPI, seed: Tenant) -> None:
    router = Router()

    @router.get("/error_tracking/ping/")
    def ping(ctx: ProjectContext = Depends(project_access("error_tracking:read"))) -> dict[str, int]:
        return {"project": ctx.project_id}

    include_project_router(app, router)
    with TestClient(app) as client:
        for prefix in ("environments", "projects"):
            for suffix in ("/", ""):
                response = client.get(
                    f"/api/{prefix}/{seed.project.id}/error_tracking/ping{suffix}", headers=seed.headers
                )
                assert response.json() == {"project": seed.project.id}
        schema_paths = app.openapi()["paths"]
        assert "/api/environments/{project_id}/error_tracking/ping/" in schema_paths
        assert not any(p.startswith("/api/projects/{project_id}/error_tracking") for p in schema_paths)


def test_openapi_schema_and_docs(client: TestClient) -> None:
    for path in ("/api/schema/", "/api/schema"):
        schema = client.get(path)
        assert schema.status_code == 200
        assert schema.json()["openapi"].startswith("3.")
        assert "/api/projects/" in schema.json()["paths"]
    docs = client.get("/api/schema/swagger-ui/")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_health(client: TestClient) -> None:
    body = client.get("/_health").json()
    assert body["status"] == "ok" and body["database"] == "ok"


def test_aliases_keep_405_and_404_answers(app: FastAPI, seed: Tenant) -> None:
    """The fallback that answers the other spellings still says 405 for a known path with another method and 404
    (PostHog's error shape) for a path no spelling names."""
    router = Router()

    @router.post("/error_tracking/only-post/")
    def only_post(ctx: ProjectContext = Depends(project_access("error_tracking:read"))) -> dict[str, int]:
        return {"project": ctx.project_id}

    include_project_router(app, router)
    with TestClient(app) as client:
        for prefix in ("environments", "projects"):
            for suffix in ("/", ""):
                path = f"/api/{prefix}/{seed.project.id}/error_tracking/only-post{suffix}"
                assert client.post(path, headers=seed.headers).json() == {"project": seed.project.id}
                assert client.get(path, headers=seed.headers).status_code == 405, path
        missing = client.get(f"/api/projects/{seed.project.id}/error_tracking/nothing-here", headers=seed.headers)
        assert missing.status_code == 404
        assert set(missing.json()) >= {"type", "code", "detail"}


def test_each_project_route_is_registered_once(app: FastAPI) -> None:
    """Spellings are answered by the fallback, not by more registrations: FastAPI keeps a full route object per
    registration (memory, and the list every request walks)."""
    paths = [p for p in app.openapi()["paths"]]
    assert any(p.startswith("/api/environments/{project_id}/error_tracking/issues") for p in paths)
    registered = [getattr(route, "path", "") for route in app.router.routes]
    flat: list[str] = []
    for route in app.router.routes:
        original = getattr(route, "original_router", None)
        prefix = getattr(getattr(route, "include_context", None), "prefix", "")
        for inner in getattr(original, "routes", ()):
            flat.append(prefix + getattr(inner, "path", ""))
    flat += registered
    assert not [p for p in flat if p.startswith("/api/projects/{project_id}/error_tracking")]
    issue_list = [p for p in flat if p.rstrip("/") == "/api/environments/{project_id}/error_tracking/issues"]
    assert issue_list == ["/api/environments/{project_id}/error_tracking/issues/"]
