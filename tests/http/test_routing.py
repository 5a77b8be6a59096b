"""Trailing slashes are optional and project routes answer under both URL prefixes."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from faultline.http.auth import ProjectContext, project_access
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
