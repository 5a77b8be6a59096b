"""Personal API keys cannot be used to reach further than they were given.

* Minting: a key creates keys only within its own scopes, projects and organizations; a logged-in user within their
  own memberships (issue 12, item 1: a read-only key for one project minted a `*` key for every project).
* `scoped_organizations` is enforced on every endpoint, tested with a user who belongs to two organizations (item 2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.accounts.models import MembershipLevel, PersonalAPIKey, Project
from faultline.app import create_app
from faultline.db import Database
from faultline.releases.models import Release
from tests.conftest import Tenant, make_settings, make_tenant
from tests.web.conftest import csrf_from, login

KEYS = "/api/personal_api_keys/"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def new_key(db: Database, tenant: Tenant, scopes: list[str], **limits: object) -> str:
    with db.write() as session:
        user = session.get(type(tenant.user), tenant.user.id)
        _key, value = accounts.create_api_key(session, user, label="limited", scopes=scopes, **limits)  # type: ignore[arg-type]
    return value


def mint(client: TestClient, headers: dict[str, str], **body: object):
    return client.post(KEYS, json={"label": "minted", **body}, headers=headers)


# ------------------------------------------------------------------------------------------------ minting


def test_a_limited_key_cannot_mint_a_stronger_one(client: TestClient, db: Database, seed: Tenant) -> None:
    """The probe of the issue: read-only for project 1 + personal_api_key:write must not yield a `*` key that
    renames another project and deletes its release."""
    with db.write() as session:
        other = accounts.create_project(session, seed.organization.id, "Other")
        release = Release(project_id=other.id, hash_id="r1", version="1", project_name="other")
        session.add(release)
        session.flush()
        release_id = release.id
    limited = bearer(
        new_key(db, seed, ["error_tracking:read", "personal_api_key:write"], scoped_teams=[seed.project.id])
    )

    refused = [
        ({"scopes": ["*"]}, "scopes"),
        ({"scopes": ["*"], "scoped_teams": [seed.project.id]}, "scopes"),
        ({"scopes": ["project:write"], "scoped_teams": [seed.project.id]}, "scopes"),
        ({"scopes": ["error_tracking:write"], "scoped_teams": [seed.project.id]}, "scopes"),
        ({"scopes": ["error_tracking:read"]}, "projects"),  # no project limit = every project
        ({"scopes": ["error_tracking:read"], "scoped_teams": []}, "projects"),  # empty = no limit, as in PostHog
        ({"scopes": ["error_tracking:read"], "scoped_teams": [seed.project.id, other.id]}, "projects"),
    ]
    for body, word in refused:
        response = mint(client, limited, **body)
        assert response.status_code == 403, (body, response.status_code, response.text)
        error = response.json()
        assert error["type"] == "authentication_error" and error["code"] == "permission_denied"
        assert word in error["detail"], (body, error)

    # Within its own reach it may mint (write implies read, as for requests).
    ok = mint(client, limited, scopes=["error_tracking:read", "personal_api_key:read"], scoped_teams=[seed.project.id])
    assert ok.status_code == 201, ok.text
    assert ok.json()["scoped_teams"] == [seed.project.id]
    minted = bearer(ok.json()["value"])
    assert client.patch(f"/api/environments/{other.id}/", json={"name": "pwned"}, headers=minted).status_code == 403
    release_url = f"/api/environments/{other.id}/error_tracking/releases/{release_id}/"
    assert client.delete(release_url, headers=minted).status_code == 403
    assert client.delete(release_url, headers=seed.headers).status_code == 204  # it was there all along
    with db.read() as session:
        assert session.get(Project, other.id).name == "Other"


def test_a_full_key_and_a_session_mint_within_the_users_memberships(
    client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    for headers in (seed.headers, None):
        if headers is None:  # the logged-in user, through the session cookie and its CSRF header
            login(client, seed.user.email)
            headers = {"X-CSRFToken": csrf_from(client.get("/account").text)}
        full = mint(client, headers, scopes=["*"], scoped_organizations=[str(seed.organization.id)])
        assert full.status_code == 201, full.text
        assert full.json()["scoped_organizations"] == [str(seed.organization.id)]
        for body, attr, message in (
            ({"scoped_teams": [other_tenant.project.id]}, "scoped_teams", "member of all projects"),
            ({"scoped_teams": [2**40]}, "scoped_teams", "member of all projects"),
            ({"scoped_organizations": [str(other_tenant.organization.id)]}, "scoped_organizations", "member of all"),
            ({"scoped_organizations": [str(uuid.uuid4())]}, "scoped_organizations", "member of all organizations"),
            ({"scoped_organizations": ["acme"]}, "scoped_organizations", "Invalid organization UUID"),
        ):
            response = mint(client, headers, scopes=["error_tracking:read"], **body)
            assert response.status_code == 400, (body, response.text)
            error = response.json()
            assert (error["type"], error["attr"]) == ("validation_error", attr) and message in error["detail"]


def test_the_account_page_refuses_projects_outside_the_users_organizations(
    client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    login(client, seed.user.email)
    token = csrf_from(client.get("/account").text)
    response = client.post(
        "/account/keys",
        data={"csrf_token": token, "label": "x", "scope_all": "on", "projects": str(other_tenant.project.id)},
    )
    assert response.status_code == 400 and "Choose projects from the list." in response.text


# ------------------------------------------------------------------------------------------------ organizations


@dataclass
class TwoOrgs:
    acme: Tenant
    globex_project: Project
    globex_id: uuid.UUID


@pytest.fixture
def two_orgs(db: Database, seed: Tenant, other_tenant: Tenant) -> TwoOrgs:
    """seed's user is an admin of Acme and (after this) a member of Globex too."""
    with db.write() as session:
        org = session.get(type(other_tenant.organization), other_tenant.organization.id)
        user = session.get(type(seed.user), seed.user.id)
        accounts.add_member(session, org, user, MembershipLevel.ADMIN)
    return TwoOrgs(acme=seed, globex_project=other_tenant.project, globex_id=other_tenant.organization.id)


def test_scoped_organizations_is_enforced_everywhere(client: TestClient, db: Database, two_orgs: TwoOrgs) -> None:
    acme = two_orgs.acme
    acme_id, globex_id = acme.organization.id, two_orgs.globex_id
    pa, pg = acme.project.id, two_orgs.globex_project.id
    # Unlimited, the user reaches both organizations.
    assert client.get(f"/api/environments/{pg}/", headers=acme.headers).status_code == 200
    assert len(client.get("/api/projects/", headers=acme.headers).json()["results"]) == 2

    key = bearer(new_key(db, acme, ["*"], scoped_organizations=[str(acme_id)]))
    assert client.get(f"/api/environments/{pa}/", headers=key).status_code == 200
    for method, path, body in (
        ("GET", f"/api/environments/{pg}/", None),
        ("PATCH", f"/api/environments/{pg}/", {"name": "renamed"}),
        ("GET", f"/api/projects/{pg}/error_tracking/issues/", None),
        ("GET", f"/api/environments/{pg}/error_tracking/releases/", None),
        ("POST", f"/api/environments/{pg}/error_tracking/releases/", {"version": "1", "project": "x"}),
        ("GET", f"/api/environments/{pg}/error_tracking/symbol_sets/", None),
        ("GET", f"/api/environments/{pg}/error_tracking/suppression_rules/", None),
        ("GET", f"/api/environments/{pg}/error_tracking/settings/retrieve_settings/", None),
    ):
        response = client.request(method, path, json=body, headers=key)
        assert response.status_code == 403, (method, path, response.status_code)
        assert "organization" in response.json()["detail"]
    with db.read() as session:
        assert session.get(Project, pg).name != "renamed"

    # Listings and the caller's profile show only what the key may reach.
    assert [p["id"] for p in client.get("/api/projects/", headers=key).json()["results"]] == [pa]
    me = client.get("/api/users/@me/", headers=key).json()
    assert [o["id"] for o in me["organizations"]] == [str(acme_id)]

    # Creating a project: only inside the key's organizations.
    refused = client.post("/api/projects/", json={"name": "New", "organization": str(globex_id)}, headers=key)
    assert refused.status_code == 403
    created = client.post("/api/projects/", json={"name": "New"}, headers=key)
    assert created.status_code == 201 and created.json()["organization"] == str(acme_id)
    team_limited = bearer(new_key(db, acme, ["*"], scoped_teams=[pa]))
    assert client.post("/api/projects/", json={"name": "Newer"}, headers=team_limited).status_code == 403

    # Minting: an organization-limited key mints organization-limited keys only.
    assert mint(client, key, scopes=["error_tracking:read"]).status_code == 403
    assert mint(client, key, scopes=["error_tracking:read"], scoped_organizations=[str(globex_id)]).status_code == 403
    both = mint(client, key, scopes=["error_tracking:read"], scoped_organizations=[str(acme_id), str(globex_id)])
    assert both.status_code == 403
    ok = mint(client, key, scopes=["error_tracking:read"], scoped_organizations=[str(acme_id)])
    assert ok.status_code == 201 and ok.json()["scoped_organizations"] == [str(acme_id)]


def test_unreadable_organization_limits_reach_nothing(client: TestClient, db: Database, two_orgs: TwoOrgs) -> None:
    """Rows written before validation existed: a limit nothing can match grants nothing (never everything)."""
    value = new_key(db, two_orgs.acme, ["*"])
    with db.write() as session:
        session.query(PersonalAPIKey).filter(PersonalAPIKey.label == "limited").update(
            {"scoped_organizations": ["not-a-uuid"]}
        )
    for project_id in (two_orgs.acme.project.id, two_orgs.globex_project.id):
        assert client.get(f"/api/environments/{project_id}/", headers=bearer(value)).status_code == 403
    assert client.get("/api/projects/", headers=bearer(value)).json()["results"] == []


def test_the_account_page_limits_a_key_to_one_organization(client: TestClient, db: Database, two_orgs: TwoOrgs) -> None:
    acme = two_orgs.acme
    login(client, acme.user.email)
    page = client.get("/account")
    assert "Limit to organizations" in page.text and str(two_orgs.globex_id) in page.text
    token = csrf_from(page.text)
    created = client.post(
        "/account/keys",
        data={"csrf_token": token, "label": "acme only", "scope_all": "on", "organizations": str(acme.organization.id)},
    )
    assert created.status_code == 201, created.text[:500]
    value = created.text.split('id="new-key-value">')[1].split("<")[0]
    assert client.get(f"/api/environments/{acme.project.id}/", headers=bearer(value)).status_code == 200
    assert client.get(f"/api/environments/{two_orgs.globex_project.id}/", headers=bearer(value)).status_code == 403
    assert "Acme (org)" in client.get("/account").text
    forged = client.post(
        "/account/keys",
        data={"csrf_token": token, "label": "x", "scope_all": "on", "organizations": str(uuid.uuid4())},
    )
    assert forged.status_code == 400 and "member of all organizations" in forged.text


@pytest.mark.postgres
def test_stored_limits_that_cannot_match_are_harmless_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """A limit naming a project id beyond 32 bits (possible before limits were validated) must not turn the
    project list into a PostgreSQL "integer out of range" error; it matches nothing."""
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="pg-limits@acme.test")
        value = new_key(app.state.db, tenant, ["*"])
        with app.state.db.write() as session:
            session.query(PersonalAPIKey).filter(PersonalAPIKey.label == "limited").update(
                {"scoped_teams": [2**40, tenant.project.id]}
            )
        listed = client.get("/api/projects/", headers=bearer(value))
        assert listed.status_code == 200 and [p["id"] for p in listed.json()["results"]] == [tenant.project.id]
        assert client.get(f"/api/environments/{tenant.project.id}/", headers=bearer(value)).status_code == 200
