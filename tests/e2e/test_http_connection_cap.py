"""The issue's starvation case, scaled down: more slow connections than the server process has file descriptors.
Before the connection cap, accept() failed with EMFILE and every real request failed until the slow clients left
(no header deadline: never). With the cap, each newcomer closes the slowest connection, so real requests pass."""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, running, wait_until
from tests.support.slow_clients import SlowClients, status_of

pytestmark = pytest.mark.slow

OPEN_FILES = 400  # the server's RLIMIT_NOFILE
SLOW = 450  # more than that
MAX_CONNECTIONS = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOW + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SLOW + 200), hard))
    with running(
        LiveServer(
            data_dir=tmp_path_factory.mktemp("cap") / "data",
            env_overrides={
                "FAULTLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                "FAULTLINE_HEADER_TIMEOUT": "60",  # the cap alone must protect real requests
            },
            open_files=OPEN_FILES,
        )
    ) as live:
        yield live


def test_slow_connections_beyond_the_cap_do_not_starve_real_requests(server: LiveServer) -> None:
    token = server.credentials()["project_token"]
    body = json.dumps({"api_key": token, "batch": [exception_event("UnderSiege", "still served")]}).encode()
    slow = SlowClients(
        server.port, count=SLOW, opening=b"GET /_health HTTP/1.1\r\nHost: t\r\n", drip=b"X-A: b\r\n", interval=0.5
    ).start()
    try:
        timings = []
        for _ in range(10):
            started = time.monotonic()
            # a fresh connection each time: the newcomer is what the cap must make room for
            assert httpx.post(f"{server.url}/batch/", content=body, timeout=5).status_code == 200
            assert httpx.get(f"{server.url}/_health", timeout=5).json()["status"] == "ok"
            timings.append(time.monotonic() - started)
        assert max(timings) < 5.0, timings  # before the cap: connection reset, every time

        survivors = wait_until(lambda: len(slow.still_open()) <= MAX_CONNECTIONS, timeout_s=5)
        assert survivors, len(slow.still_open())
        # closed at once to make room (a 503 too_many_connections, or a reset if the client was mid-send)
        assert {status_of(c.response) for c in slow.closed()} <= {503, None}
    finally:
        slow.stop()
    assert "connection cap FAULTLINE_MAX_CONNECTIONS=16 reached" in server.output()


def is_closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or status_of(data) == 503


def test_the_cap_closes_idle_keep_alive_connections_before_slow_ones(server: LiveServer) -> None:
    """Order of expendability: an idle kept-alive connection (its client reconnects at no cost) goes before one
    that is still sending headers."""
    wait_until(lambda: httpx.get(f"{server.url}/_health").status_code == 200)
    time.sleep(1.5)  # the previous test's connections are gone and nothing is fresh
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(MAX_CONNECTIONS // 2)]
    for sock in slow:
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: t\r\n")
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(MAX_CONNECTIONS // 2)]
    for sock in idle:
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_of(sock.recv(65536)) == 200  # answered; the connection stays open, idle (keep-alive 5 s)
    try:
        time.sleep(1.2)  # past the grace of fresh connections
        assert httpx.get(f"{server.url}/_health", timeout=5).status_code == 200  # one over the cap
        # The eviction is asynchronous to our request: wait for it (a loaded machine may take a moment), then
        # check that it was exactly one idle connection and no slow one.
        wait_until(lambda: any(is_closed_by_server(s) for s in idle), timeout_s=5, interval_s=0.05)
        assert sum(is_closed_by_server(s) for s in idle) == 1
        assert not any(is_closed_by_server(s) for s in slow)
    finally:
        for sock in slow + idle:
            sock.close()
