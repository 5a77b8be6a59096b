"""The login throttle holds under concurrency, against the real server on SQLite and on PostgreSQL.

Before, the throttle counted failures, checked the password, then recorded the failure: 100 concurrent wrong logins
all saw "fewer than 5" and 34 of them reached the password check. Now each attempt reserves its place atomically
before the password is verified, so exactly the budget is spent, however many requests arrive at once.

A wrong password answers 400 (the password was checked) and a throttled attempt 429 (it was not), so counting the
answers counts the password checks. Each test speaks from its own client address (`X-Forwarded-For`, which the
server trusts from 127.0.0.1 only) so the per-address budget of one test does not leak into the next.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from faultline.web import throttle
from tests.support.databases import database_env
from tests.support.live_server import LiveServer

CONCURRENT = 50
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        env = database_env(request.param, stack)
        live = LiveServer(data_dir=Path(tmp_path_factory.mktemp("throttle")) / "data", env_overrides=env)
        live.start()
        stack.callback(live.stop)
        yield live


def _form(server: LiveServer) -> tuple[dict[str, str], str]:
    """A login nonce cookie and the form token minted for it (one pair serves every request of a burst)."""
    page = httpx.get(server.url + "/login", timeout=10)
    match = _LOGIN_TOKEN.search(page.text)
    assert match, page.text[:300]
    return dict(page.cookies), match.group(1)


def _burst(server: LiveServer, emails: list[str], password: str, address: str) -> Counter[int]:
    """POST every login at the same moment (all threads released by one barrier); the status codes seen."""
    cookies, token = _form(server)
    barrier = threading.Barrier(len(emails))
    codes: Counter[int] = Counter()
    lock = threading.Lock()

    def attempt(email: str) -> None:
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=60) as client:
            barrier.wait(timeout=30)
            response = client.post(
                "/login",
                data={"email": email, "password": password, "login_token": token, "next": "/projects/"},
                headers={"X-Forwarded-For": address},
            )
        with lock:
            codes[response.status_code] += 1

    threads = [threading.Thread(target=attempt, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(codes.values()) == len(emails), codes
    return codes


def test_concurrent_wrong_passwords_for_one_account(server: LiveServer) -> None:
    email = server.credentials()["login"]
    codes = _burst(server, [email] * CONCURRENT, "wrong password", "198.51.100.1")
    assert codes == {400: throttle.MAX_PER_EMAIL, 429: CONCURRENT - throttle.MAX_PER_EMAIL}, codes
    # The right password is refused too until the window ends, and was never checked.
    right = _burst(server, [email], server.credentials()["password"], "198.51.100.2")
    assert right == {429: 1}


def test_concurrent_spray_from_one_address(server: LiveServer) -> None:
    emails = [f"spray{n}@example.test" for n in range(CONCURRENT)]
    codes = _burst(server, emails, "wrong password", "198.51.100.3")
    assert codes == {400: throttle.MAX_PER_ADDRESS, 429: CONCURRENT - throttle.MAX_PER_ADDRESS}, codes
