"""Session login/logout: cookies, CSRF on the login form itself, throttling, redirects, revocation."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.web import sessions, throttle
from faultline.web.models import LoginThrottle, WebSession
from tests.conftest import Tenant
from tests.web.conftest import PASSWORD, csrf_from, login


def test_login_sets_a_session_cookie_and_redirects_to_next(client: TestClient, seed: Tenant, db: Database) -> None:
    response = login(client, seed.user.email, next_url="/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert sessions.COOKIE_NAME in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = client.get("/account")
    assert page.status_code == 200 and seed.user.email in page.text
    with db.read() as session:
        rows = session.execute(sa.select(WebSession)).scalars().all()
    # Only the digest of the cookie token is stored.
    token = client.cookies.get(sessions.COOKIE_NAME)
    assert [r.id for r in rows] == [sessions.token_digest(token)]
    assert token not in {r.id for r in rows}


def test_pages_redirect_anonymous_visitors_to_login_with_next(client: TestClient, seed: Tenant) -> None:
    response = client.get(f"/project/{seed.project.id}/settings?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fproject%2F{seed.project.id}%2Fsettings%3Fx%3D1"


def test_wrong_password_is_an_inline_error_not_a_crash(client: TestClient, seed: Tenant) -> None:
    response = login(client, seed.user.email, password="nope nope")
    assert response.status_code == 400
    assert "E-mail or password is incorrect." in response.text
    assert sessions.COOKIE_NAME not in client.cookies
    unknown = login(client, "nobody@nowhere.test")
    assert unknown.status_code == 400 and "E-mail or password is incorrect." in unknown.text
    malformed = login(client, "not an email")
    assert malformed.status_code == 400 and "E-mail or password is incorrect." in malformed.text


def test_empty_fields_get_field_messages(client: TestClient, seed: Tenant) -> None:
    response = login(client, "", password="")
    assert response.status_code == 400
    assert "Enter your e-mail address." in response.text and "Enter your password." in response.text


def test_login_form_without_its_token_is_refused(client: TestClient, seed: Tenant) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"email": seed.user.email, "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "expired or was not sent from this site" in response.text
    assert sessions.COOKIE_NAME not in client.cookies
    # A token minted for another browser's nonce does not work either.
    other = TestClient(client.app)
    token = re.search(r'name="login_token" value="([^"]+)"', other.get("/login").text).group(1)
    client.cookies.set("faultline_login", "attacker-chosen-nonce-value", path="/login")
    forged = client.post(
        "/login", data={"email": seed.user.email, "password": PASSWORD, "login_token": token}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_open_redirects_are_refused(client: TestClient, seed: Tenant) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client.cookies.clear()
        response = login(client, seed.user.email, next_url=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/projects/", target


def test_login_is_throttled_per_email_before_checking_the_password(
    client: TestClient, seed: Tenant, db: Database
) -> None:
    for _ in range(throttle.MAX_PER_EMAIL):
        assert login(client, seed.user.email, password="wrong password").status_code == 400
    # Even the right password is refused now, with an inline message and Retry-After.
    blocked = login(client, seed.user.email)
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert sessions.COOKIE_NAME not in client.cookies
    # The refused attempt was not counted; the address has spent 5 of its larger budget.
    with db.read() as session:
        counters = dict(session.execute(sa.select(LoginThrottle.key, LoginThrottle.attempts)).all())
    assert counters == {
        throttle.email_key(seed.user.email): throttle.MAX_PER_EMAIL,
        throttle.address_key("testclient"): throttle.MAX_PER_EMAIL,
    }


def test_login_is_throttled_per_address_across_accounts(client: TestClient, seed: Tenant) -> None:
    for index in range(throttle.MAX_PER_ADDRESS):
        assert login(client, f"spray{index}@acme.test", password="wrong password").status_code == 400
    assert login(client, seed.user.email).status_code == 429


def test_success_clears_the_accounts_failures(client: TestClient, seed: Tenant, db: Database) -> None:
    for _ in range(throttle.MAX_PER_EMAIL - 1):
        login(client, seed.user.email, password="wrong password")
    assert login(client, seed.user.email).status_code == 303
    with db.read() as session:
        assert throttle.attempts(session, seed.user.email) == 0
        keys = dict(session.execute(sa.select(LoginThrottle.key, LoginThrottle.attempts)).all())
    # The account is forgiven; the address keeps its failures but not the successful attempt.
    assert keys == {throttle.address_key("testclient"): throttle.MAX_PER_EMAIL - 1}


def test_the_window_expires(client: TestClient, seed: Tenant, db: Database) -> None:
    for _ in range(throttle.MAX_PER_EMAIL):
        login(client, seed.user.email, password="wrong password")
    assert login(client, seed.user.email).status_code == 429
    with db.write() as session:
        session.execute(sa.update(LoginThrottle).values(window_start=utcnow() - throttle.WINDOW))
    assert login(client, seed.user.email).status_code == 303
    with db.read() as session:  # expired windows were pruned by the login that passed by
        assert session.execute(sa.select(LoginThrottle.key)).scalars().all() == [throttle.address_key("testclient")]


def test_logout_ends_the_session_for_good(client: TestClient, seed: Tenant, db: Database) -> None:
    login(client, seed.user.email)
    stolen = client.cookies.get(sessions.COOKIE_NAME)
    token = csrf_from(client.get("/account").text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with db.read() as session:
        assert session.execute(sa.select(WebSession)).first() is None
    # Replaying the old cookie no longer works, for pages or the API.
    replay = TestClient(client.app, cookies={sessions.COOKIE_NAME: stolen})
    assert replay.get("/account", follow_redirects=False).status_code == 303
    assert replay.get("/api/users/@me/").status_code == 401


def test_logout_without_csrf_is_refused(client: TestClient, seed: Tenant) -> None:
    login(client, seed.user.email)
    response = client.post("/logout", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/account").status_code == 200  # still logged in


def test_expired_and_garbage_cookies_are_ignored(client: TestClient, seed: Tenant, db: Database) -> None:
    login(client, seed.user.email)
    with db.write() as session:
        session.execute(sa.update(WebSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert client.get("/account", follow_redirects=False).status_code == 303
    for garbage in ("x", "%C3%A4" * 40, "a" * 5000, "'; DROP TABLE users; --" * 3):
        anon = TestClient(client.app)
        anon.cookies.set(sessions.COOKIE_NAME, garbage)
        assert anon.get("/account", follow_redirects=False).status_code == 303


def test_login_page_when_already_logged_in_goes_to_next(client: TestClient, seed: Tenant) -> None:
    login(client, seed.user.email)
    response = client.get("/login?next=/account", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account"


def test_browsers_at_the_root_are_sent_to_the_ui(client: TestClient, seed: Tenant) -> None:
    html = client.get("/", headers={"accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert html.status_code == 303 and html.headers["location"] == "/projects/"
    assert client.get("/").json()["name"] == "faultline"


def test_deactivated_users_lose_their_sessions(client: TestClient, seed: Tenant, db: Database) -> None:
    from faultline.accounts.models import User

    login(client, seed.user.email)
    with db.write() as session:
        session.execute(sa.update(User).where(User.id == seed.user.id).values(is_active=False))
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert login(client, seed.user.email).status_code == 400
