"""The organizations page: members listed, admins add / re-role / remove members, everyone else only looks."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from faultline.accounts import memberships
from faultline.accounts.models import MembershipLevel
from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from, login


def _level(db: Database, tenant: Tenant, user_id: int) -> int | None:
    with db.read() as session:
        return memberships.level_of(session, tenant.organization.id, user_id)


def test_admin_puts_a_user_in_a_second_organization(
    client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    login(client, seed.user.email)
    page = client.get("/organizations")
    assert page.status_code == 200
    assert "Acme" in page.text and seed.user.email in page.text and "Add member" in page.text
    assert "Globex" not in page.text
    token = csrf_from(page.text)
    org = seed.organization.id

    # The other tenant's user cannot reach Acme's project yet.
    project_url = f"/api/environments/{seed.project.id}/"
    assert client.get(project_url, headers=other_tenant.headers).status_code == 404

    added = client.post(
        f"/organizations/{org}/members",
        data={"csrf_token": token, "email": other_tenant.user.email, "role": "member"},
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == "/organizations"
    assert _level(db, seed, other_tenant.user.id) == MembershipLevel.MEMBER
    assert "Added someone@globex.test to Acme as member." in client.get("/organizations").text
    # Their existing key and session now reach Acme's projects as well as their own.
    assert client.get(project_url, headers=other_tenant.headers).status_code == 200
    listed = client.get("/api/projects/", headers=other_tenant.headers).json()["results"]
    assert {p["id"] for p in listed} == {seed.project.id, other_tenant.project.id}

    promoted = client.post(
        f"/organizations/{org}/members/{other_tenant.user.id}/role",
        data={"csrf_token": token, "role": "admin"},
        follow_redirects=False,
    )
    assert promoted.status_code == 303 and _level(db, seed, other_tenant.user.id) == MembershipLevel.ADMIN

    removed = client.post(
        f"/organizations/{org}/members/{other_tenant.user.id}/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert removed.status_code == 303 and _level(db, seed, other_tenant.user.id) is None
    assert client.get(project_url, headers=other_tenant.headers).status_code == 404


def test_refusals_are_inline_and_change_nothing(
    client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    login(client, seed.user.email)
    token = csrf_from(client.get("/organizations").text)
    org = seed.organization.id

    def add(email: str, role: str = "member") -> str:
        response = client.post(
            f"/organizations/{org}/members", data={"csrf_token": token, "email": email, "role": role}
        )
        assert response.status_code == 400, response.status_code
        return response.text

    # An e-mail without an account gets an invitation link instead (tests/web/test_invites.py).
    assert "You cannot grant the owner role" in add("ghost@nowhere.test", "owner")
    assert "Enter a valid email address" in add("not an email")
    assert "already a member (admin)" in add(seed.user.email)
    assert "Unknown role" in add(other_tenant.user.email, "boss")
    # seed is an admin: owner is above that.
    assert "You cannot grant the owner role" in add(other_tenant.user.email, "owner")
    assert _level(db, seed, other_tenant.user.id) is None
    # The typed e-mail stays in the form.
    assert re.search(r'name="email" type="email" value="someone@globex.test"', add(other_tenant.user.email, "owner"))

    # The last admin cannot demote or remove themselves.
    demote = client.post(
        f"/organizations/{org}/members/{seed.user.id}/role", data={"csrf_token": token, "role": "member"}
    )
    assert demote.status_code == 400 and "at least one admin or owner" in demote.text
    leave = client.post(f"/organizations/{org}/members/{seed.user.id}/remove", data={"csrf_token": token})
    assert leave.status_code == 400 and _level(db, seed, seed.user.id) == MembershipLevel.ADMIN

    # Another tenant's organization, a malformed id, a missing member: 404.
    foreign = other_tenant.organization.id
    for url in (
        f"/organizations/{foreign}/members",
        "/organizations/not-a-uuid/members",
        f"/organizations/{org}/members/²/remove",
        f"/organizations/{org}/members/{other_tenant.user.id}/remove",
    ):
        response = client.post(url, data={"csrf_token": token, "email": seed.user.email})
        assert response.status_code in (400, 404), (url, response.status_code)
        assert response.status_code == 404 or "not a member" in response.text
    # Without the CSRF token nothing happens.
    forged = client.post(f"/organizations/{org}/members", data={"email": other_tenant.user.email})
    assert forged.status_code == 403 and _level(db, seed, other_tenant.user.id) is None


def test_plain_members_see_members_but_cannot_change_them(
    client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    with db.write() as session:
        memberships.add(
            session, seed.organization.id, other_tenant.user.email, MembershipLevel.MEMBER, actor_level=None
        )
    login(client, other_tenant.user.email)
    page = client.get("/organizations")
    assert page.status_code == 200
    assert "Acme" in page.text and "Globex" in page.text and seed.user.email in page.text
    acme = next(s for s in page.text.split('<section class="card"') if 'id="org-' + str(seed.organization.id) in s)
    assert "Add member" not in acme and "/remove" not in acme and "member" in acme  # read-only for members
    globex = next(s for s in page.text.split('<section class="card"') if str(other_tenant.organization.id) in s)
    assert "Add member" in globex  # their own organization, where they are admin
    token = csrf_from(page.text)
    response = client.post(
        f"/organizations/{seed.organization.id}/members/{seed.user.id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 403 and "Only organization admins" in response.text
    assert _level(db, seed, seed.user.id) == MembershipLevel.ADMIN
