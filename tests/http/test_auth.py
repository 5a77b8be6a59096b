"""401 / 403 / 404: who may call what, on which project."""

from __future__ import annotations

from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.db import Database
from tests.conftest import Tenant, make_tenant


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"type", "code", "detail", "attr"}
    return body


def test_missing_credentials_is_401(client: TestClient, seed: Tenant) -> None:
    response = client.get(f"/api/environments/{seed.project.id}/")
    assert response.status_code == 401
    assert _error(response) == {
        "type": "authentication_error",
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "attr": None,
    }


def test_invalid_key_is_401(client: TestClient, seed: Tenant) -> None:
    for header in ("Bearer phx_not_a_real_key", "Bearer " + seed.api_key + "x", "Bearer phc_project_token"):
        response = client.get(f"/api/environments/{seed.project.id}/", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert _error(response)["code"] == "authentication_failed"


def test_non_bearer_scheme_is_401(client: TestClient, seed: Tenant) -> None:
    response = client.get("/api/projects/", headers={"Authorization": f"Basic {seed.api_key}"})
    assert response.status_code == 401
    assert "Bearer" in _error(response)["detail"]


def test_inactive_user_key_is_401(client: TestClient, db: Database, seed: Tenant) -> None:
    with db.write() as session:
        user = session.get(accounts.User, seed.user.id)
        user.is_active = False
    assert client.get("/api/projects/", headers=seed.headers).status_code == 401


def test_missing_scope_is_403(client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, email="reader@acme.test", scopes=["error_tracking:read"])
    response = client.get(f"/api/environments/{tenant.project.id}/", headers=tenant.headers)
    assert response.status_code == 403
    assert _error(response) == {
        "type": "authentication_error",
        "code": "permission_denied",
        "detail": "API key missing required scope 'project:read'",
        "attr": None,
    }


def test_write_scope_implies_read(client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, email="writer@acme.test", scopes=["project:write"])
    assert client.get(f"/api/environments/{tenant.project.id}/", headers=tenant.headers).status_code == 200


def test_read_scope_does_not_allow_writes(client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, email="ro@acme.test", scopes=["project:read"])
    response = client.patch(f"/api/environments/{tenant.project.id}/", headers=tenant.headers, json={"name": "x"})
    assert response.status_code == 403
    assert "project:write" in _error(response)["detail"]


def test_foreign_project_is_404_and_never_listed(client: TestClient, seed: Tenant, other_tenant: Tenant) -> None:
    for path in (f"/api/environments/{other_tenant.project.id}/", f"/api/projects/{other_tenant.project.id}/"):
        response = client.get(path, headers=seed.headers)
        assert response.status_code == 404, path
        assert _error(response) == {
            "type": "invalid_request",
            "code": "not_found",
            "detail": "Not found.",
            "attr": None,
        }
    patch = client.patch(f"/api/environments/{other_tenant.project.id}/", headers=seed.headers, json={"name": "x"})
    assert patch.status_code == 404
    listed = client.get("/api/projects/", headers=seed.headers).json()
    assert [p["id"] for p in listed["results"]] == [seed.project.id]


def test_missing_and_malformed_project_ids_are_404(client: TestClient, seed: Tenant) -> None:
    for project_id in ("999999", "abc", "1.5", "-1", "9" * 30):
        response = client.get(f"/api/environments/{project_id}/", headers=seed.headers)
        assert response.status_code == 404, project_id


def test_key_restricted_to_projects(client: TestClient, db: Database, seed: Tenant) -> None:
    with db.write() as session:
        second = accounts.create_project(session, seed.organization.id, "Second")
        user = session.get(accounts.User, seed.user.id)
        _key, value = accounts.create_api_key(session, user, label="one", scopes=["*"], scoped_teams=[second.id])
    headers = {"Authorization": f"Bearer {value}"}
    assert client.get(f"/api/environments/{second.id}/", headers=headers).status_code == 200
    assert client.get(f"/api/environments/{seed.project.id}/", headers=headers).status_code == 403
    assert [p["id"] for p in client.get("/api/projects/", headers=headers).json()["results"]] == [second.id]


def test_api_key_shown_once_and_stored_hashed(client: TestClient, db: Database, seed: Tenant) -> None:
    created = client.post(
        "/api/personal_api_keys/", headers=seed.headers, json={"label": "ci", "scopes": ["error_tracking:read"]}
    )
    assert created.status_code == 201
    value = created.json()["value"]
    assert value.startswith("phx_")
    listed = client.get("/api/personal_api_keys/", headers=seed.headers).json()["results"]
    assert all("value" not in item for item in listed)
    assert any(item["mask_value"].endswith(value[-4:]) for item in listed)
    with db.read() as session:
        stored = [k.secure_value for k in session.query(accounts.PersonalAPIKey)]
    assert value not in stored
    revoke = client.delete(f"/api/personal_api_keys/{created.json()['id']}/", headers=seed.headers)
    assert revoke.status_code == 204
    assert client.get("/api/users/@me/", headers={"Authorization": f"Bearer {value}"}).status_code == 401


def test_cannot_revoke_someone_elses_key(client: TestClient, seed: Tenant, other_tenant: Tenant) -> None:
    created = client.post(
        "/api/personal_api_keys/", headers=other_tenant.headers, json={"label": "x", "scopes": ["*"]}
    ).json()
    assert client.delete(f"/api/personal_api_keys/{created['id']}/", headers=seed.headers).status_code == 404
    assert client.delete("/api/personal_api_keys/not-a-uuid/", headers=seed.headers).status_code == 404


def test_has_scope_rules() -> None:
    assert accounts.has_scope(["*"], "error_tracking:write")
    assert accounts.has_scope(["error_tracking:write"], "error_tracking:read")
    assert not accounts.has_scope(["error_tracking:read"], "error_tracking:write")
    assert not accounts.has_scope(["project:write"], "error_tracking:read")
