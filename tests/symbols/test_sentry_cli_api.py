"""The Sentry management API's tenancy and validation, in process: slugs resolve only inside the caller's
organizations, key limits hold, chunks of one organization are invisible to another, release input is checked."""

from __future__ import annotations

import hashlib

from faultline.accounts import service as accounts
from faultline.accounts.slugs import slugify
from tests.conftest import Tenant


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_slugify() -> None:
    assert slugify("Acme web") == "acme-web"
    assert slugify("  Ünïcode / Shop!! ") == "n-code-shop"
    assert slugify("***") == "default"


def test_organizations_and_projects_by_slug_or_id_only_inside_the_callers_orgs(
    client, seed: Tenant, other_tenant: Tenant
) -> None:
    orgs = client.get("/api/0/organizations/", headers=seed.headers).json()
    assert [(o["slug"], o["id"]) for o in orgs] == [("acme", str(seed.organization.id))]
    assert client.get("/api/0/organizations/acme/", headers=seed.headers).status_code == 200
    assert client.get(f"/api/0/organizations/{seed.organization.id}/", headers=seed.headers).status_code == 200
    for foreign in ("globex", str(other_tenant.organization.id)):
        assert client.get(f"/api/0/organizations/{foreign}/chunk-upload/", headers=seed.headers).status_code == 404
    slug = slugify(seed.project.name)
    project = client.get(f"/api/0/projects/acme/{slug}/", headers=seed.headers).json()
    assert project["id"] == str(seed.project.id)
    by_id = client.get(f"/api/0/projects/acme/{seed.project.id}/", headers=seed.headers)
    assert by_id.json()["slug"] == slug
    assert client.get(f"/api/0/projects/acme/{other_tenant.project.id}/", headers=seed.headers).status_code == 404
    me = client.get("/api/0/", headers=seed.headers).json()
    assert me["user"]["email"] == "owner@acme.test" and me["auth"]["scopes"] == ["*"]


def test_chunks_of_one_organization_are_invisible_to_another(client, seed: Tenant, other_tenant: Tenant) -> None:
    data = b"shared bytes"
    uploaded = client.post(
        "/api/0/organizations/acme/chunk-upload/", headers=seed.headers, files=[("file", (_sha1(data), data))]
    )
    assert uploaded.status_code == 200, uploaded.text
    body = {"checksum": _sha1(data), "chunks": [_sha1(data)], "projects": ["globex-web"]}
    theirs = client.post(
        "/api/0/organizations/globex/artifactbundle/assemble/", headers=other_tenant.headers, json=body
    )
    assert theirs.json()["missingChunks"] == [_sha1(data)]
    ours = client.post(
        "/api/0/organizations/acme/artifactbundle/assemble/",
        headers=seed.headers,
        json={**body, "projects": ["acme-web"]},
    )
    assert ours.status_code == 400 and ours.json()["state"] == "error"  # present, but not a zip


def test_key_limited_to_another_project_is_refused(client, app, seed: Tenant) -> None:
    with app.state.db.write() as session:
        other = accounts.create_project(session, seed.organization.id, "Acme api")
        user = session.merge(seed.user)
        _key, value = accounts.create_api_key(session, user, label="api only", scopes=["*"], scoped_teams=[other.id])
    headers = {"Authorization": f"Bearer {value}"}
    body = {"checksum": "1" * 40, "chunks": ["2" * 40], "projects": ["acme-web"]}
    refused = client.post("/api/0/organizations/acme/artifactbundle/assemble/", headers=headers, json=body)
    assert refused.status_code == 403
    listed = client.get("/api/0/organizations/acme/projects/", headers=headers).json()
    assert [p["slug"] for p in listed] == ["acme-api"]


def test_two_projects_with_one_slug_need_the_id(client, app, seed: Tenant) -> None:
    with app.state.db.write() as session:
        first = accounts.create_project(session, seed.organization.id, "Twin Shop")
        accounts.create_project(session, seed.organization.id, "twin-shop")
    ambiguous = client.get("/api/0/projects/acme/twin-shop/", headers=seed.headers)
    assert ambiguous.status_code == 400 and "project id" in ambiguous.json()["detail"]
    assert client.get(f"/api/0/projects/acme/{first.id}/", headers=seed.headers).status_code == 200


def test_release_input_is_checked(client, seed: Tenant) -> None:
    base = "/api/0/organizations/acme/releases/"
    assert client.post(base, headers=seed.headers, json={"version": "1.0"}).status_code == 400
    assert client.post(base, headers=seed.headers, json={"projects": ["acme-web"]}).status_code == 400
    slash = client.post(base, headers=seed.headers, json={"version": "a/b", "projects": ["acme-web"]})
    assert slash.status_code == 400
    first = client.post(base, headers=seed.headers, json={"version": "1.0", "projects": ["acme-web"]})
    assert first.status_code == 201 and first.json()["projects"][0]["slug"] == "acme-web"
    again = client.post(base, headers=seed.headers, json={"version": "1.0", "projects": ["acme-web"]})
    assert again.status_code == 208
    bad_date = client.put(f"{base}1.0/", headers=seed.headers, json={"dateReleased": "yesterday"})
    assert bad_date.status_code == 400 and bad_date.json()["attr"] == "dateReleased"
    many = [{"id": f"{i:040x}", "repository": "r", "message": "m" * 5000} for i in range(500)]
    capped = client.put(f"{base}1.0/", headers=seed.headers, json={"commits": many})
    assert capped.status_code == 200 and capped.json()["commitCount"] == 50
    assert client.get(f"{base}2.0/", headers=seed.headers).status_code == 404
