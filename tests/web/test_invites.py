"""Inviting someone without an account: a one-time link (shown once) that creates the account with its role."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import memberships
from faultline.accounts.models import MembershipLevel, OrganizationInvite, User
from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from, login


def _invite(client: TestClient, tenant: Tenant, email: str, role: str = "admin") -> str:
    token = csrf_from(client.get("/organizations").text)
    page = client.post(
        f"/organizations/{tenant.organization.id}/members", data={"csrf_token": token, "email": email, "role": role}
    )
    assert page.status_code == 200, page.text[:500]
    match = re.search(r'<code id="invite-link">(http[^<]+/invite/([A-Za-z0-9_-]+))</code>', page.text)
    assert match, "no invitation link on the page"
    assert f"joins {tenant.organization.name} as {role}" in page.text
    return "/invite/" + match.group(2)


def test_invite_link_creates_the_account_once(client: TestClient, db: Database, seed: Tenant) -> None:
    login(client, seed.user.email)
    link = _invite(client, seed, "New.Person@Example.test")
    with db.read() as session:
        stored = session.execute(sa.select(OrganizationInvite)).scalar_one()
        assert stored.email == "New.Person@example.test" and link.rsplit("/", 1)[1] not in stored.token_hash

    guest = TestClient(client.app)
    form = guest.get(link)
    assert form.status_code == 200 and "Join Acme" in form.text and "New.Person@example.test" in form.text
    differ = guest.post(link, data={"name": "Nia", "password": "long enough pw", "confirm_password": "other"})
    assert differ.status_code == 400 and 'id="err-confirm_password"' in differ.text
    short = guest.post(link, data={"name": "Nia", "password": "short", "confirm_password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    done = guest.post(
        link,
        data={"name": "Nia", "password": "long enough pw", "confirm_password": "long enough pw"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    with db.read() as session:
        user = session.execute(sa.select(User).where(User.email == "New.Person@example.test")).scalar_one()
        assert user.first_name == "Nia"
        assert memberships.level_of(session, seed.organization.id, user.id) == MembershipLevel.ADMIN
    assert login(guest, "New.Person@example.test", "long enough pw").status_code == 303
    # Used: the link is dead.
    again = TestClient(client.app)
    assert again.get(link).status_code == 404
    reuse = again.post(link, data={"password": "long enough pw", "confirm_password": "long enough pw"})
    assert reuse.status_code == 404 and "not valid any more" in reuse.text


def test_invites_expire_and_respect_roles(client: TestClient, db: Database, seed: Tenant) -> None:
    login(client, seed.user.email)
    link = _invite(client, seed, "late@example.test", role="member")
    with db.write() as session:
        session.execute(
            sa.update(OrganizationInvite).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert TestClient(client.app).get(link).status_code == 404
    # Nobody invites above their own role (seed is an admin); a forged token is a 404 page.
    token = csrf_from(client.get("/organizations").text)
    owner = client.post(
        f"/organizations/{seed.organization.id}/members",
        data={"csrf_token": token, "email": "boss@example.test", "role": "owner"},
    )
    assert owner.status_code == 400 and "You cannot grant the owner role" in owner.text
    assert TestClient(client.app).get("/invite/forged-token").status_code == 404


def test_invite_through_the_api(client: TestClient, db: Database, seed: Tenant) -> None:
    url = f"/api/organizations/{seed.organization.id}/invites/"
    created = client.post(url, json={"target_email": "api.new@example.test", "level": 1}, headers=seed.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == "member" and body["invite_url"].startswith("http://127.0.0.1:8000/invite/")
    link = body["invite_url"].removeprefix("http://127.0.0.1:8000")
    assert TestClient(client.app).get(link).status_code == 200
    owner = client.post(url, json={"target_email": "x@example.test", "level": 15}, headers=seed.headers)
    assert owner.status_code == 400 and "owner role" in owner.json()["detail"]
    taken = client.post(url, json={"target_email": seed.user.email, "level": 1}, headers=seed.headers)
    assert taken.status_code == 400 and "already has an account" in taken.json()["detail"]
    other = client.post(
        f"/api/organizations/{uuid.uuid4()}/invites/", json={"target_email": "y@example.test"}, headers=seed.headers
    )
    assert other.status_code == 404
