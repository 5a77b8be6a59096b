"""Helpers for UI tests: log a TestClient in through the real login form and pull CSRF tokens out of pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant, make_tenant

PASSWORD = "correct horse"  # what tests.conftest.make_tenant gives every user

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/projects/"):
    page = client.get("/login")
    token = _LOGIN_TOKEN.search(page.text)
    assert token, page.text[:500]
    return client.post(
        "/login",
        data={"email": email, "password": password, "login_token": token.group(1), "next": next_url},
        follow_redirects=False,
    )


@pytest.fixture
def logged_in(client: TestClient, seed: Tenant) -> TestClient:
    response = login(client, seed.user.email)
    assert response.status_code == 303, response.text[:500]
    return client


@pytest.fixture
def csrf(logged_in: TestClient) -> str:
    return csrf_from(logged_in.get("/account").text)


def tenant(db: Database, email: str, name: str) -> Tenant:
    return make_tenant(db, email=email, name=name)


def post_rule(client: TestClient, url: str, data: dict, *, confirm_all: bool = True) -> Any:
    """Submit a rule form the way a person does: the first submit answers with the rule's preview (200), the second
    — carrying the previewed rule's digest, and the "every event" box when the page asks for it — saves. Anything
    but a preview (a refusal) is returned as it is."""
    first = client.post(url, data=data, follow_redirects=False)
    if first.status_code != 200:
        return first
    found = re.search(r'name="preview_of" value="([0-9a-f]+)"', first.text)
    assert found, "the first submit of a valid rule shows its preview"
    extra = {"confirm_all": "yes"} if confirm_all and 'name="confirm_all"' in first.text else {}
    return client.post(url, data={**data, "preview_of": found.group(1), **extra}, follow_redirects=False)
