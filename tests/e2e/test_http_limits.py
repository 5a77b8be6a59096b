"""The HTTP server's limits against the real `faultline serve` process, with small limits so each edge is reached in
about a second: header bytes (431), header and body deadlines (408), the body rate allowance, and disconnects
logged as disconnects."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, running, wait_until
from tests.support.slow_clients import SlowClients, exchange, read_until_closed, status_of

pytestmark = pytest.mark.slow

MAX_HEADER_BYTES = 4096
HEADER_TIMEOUT = 1
BODY_TIMEOUT = 2
BODY_MIN_RATE = 2000
MAX_CONNECTIONS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running(
        LiveServer(
            data_dir=tmp_path_factory.mktemp("limits") / "data",
            env_overrides={
                "FAULTLINE_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
                "FAULTLINE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
                "FAULTLINE_BODY_TIMEOUT": str(BODY_TIMEOUT),
                "FAULTLINE_BODY_MIN_RATE": str(BODY_MIN_RATE),
                "FAULTLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                "FAULTLINE_LOG_LEVEL": "info",
            },
        )
    ) as live:
        yield live


def request_of_size(size: int) -> bytes:
    """A GET whose request line and headers, blank line included, are exactly `size` bytes."""
    template = b"GET /_health HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: %s\r\n\r\n"
    return template % (b"a" * (size - len(template % b"")))


def capture_body(token: str, pad: int = 0) -> bytes:
    event = exception_event("SlowButSteady", "ok")
    event["properties"]["pad"] = "p" * pad
    return json.dumps({"api_key": token, "batch": [event]}).encode()


def timed_health(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(f"{url}/_health", timeout=10)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_headers_up_to_the_limit_pass_and_one_byte_more_is_431(server: LiveServer) -> None:
    exact = exchange(server.port, request_of_size(MAX_HEADER_BYTES))
    assert status_of(exact) == 200, exact[:200]

    over = exchange(server.port, request_of_size(MAX_HEADER_BYTES + 1))
    assert status_of(over) == 431, over[:200]
    body = json.loads(over.split(b"\r\n\r\n", 1)[1])
    assert body == {
        "type": "invalid_request",
        "code": "headers_too_large",
        "detail": f"Request headers are larger than {MAX_HEADER_BYTES} bytes.",
        "attr": None,
    }


def test_a_100_mib_header_is_cut_at_once_and_health_keeps_answering(server: LiveServer) -> None:
    """Before the cap, httptools buffered the whole header and every other request waited ~7 s behind it."""
    sent = [0]
    ended: list[float] = []

    def attack() -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            try:
                sock.sendall(b"GET /_health HTTP/1.1\r\nHost: t\r\nX-Big: ")
                chunk = b"a" * (1024 * 1024)
                while sent[0] < 100 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent[0] += len(chunk)
                sock.sendall(b"\r\n\r\n")
                read_until_closed(sock, 10)
            except OSError:
                pass
        ended.append(time.monotonic() - started)

    thread = threading.Thread(target=attack)
    thread.start()
    time.sleep(0.2)
    health_times = [timed_health(server.url) for _ in range(5)]
    thread.join(timeout=30)
    # bounds generous for a loaded 2-core box; before the cap: ~18 s and 4-30 s
    assert ended and ended[0] < 10, ended
    assert sent[0] < 50 * 1024 * 1024  # cut long before the whole header went out
    assert max(health_times) < 3.0, health_times


def test_slow_headers_get_408_after_the_header_timeout_while_real_requests_pass(server: LiveServer) -> None:
    token = server.credentials()["project_token"]
    slow = SlowClients(
        server.port, count=5, opening=b"POST /batch/ HTTP/1.1\r\nHost: t\r\n", drip=b"X-A: b\r\n", interval=0.2
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            # Answered while the slow clients hold their connections (no timing bound: on a loaded 2-core box one
            # round trip can take seconds, and the slow ones are cut after 1 s anyway).
            for _ in range(3):
                assert client.post("/batch/", content=capture_body(token)).status_code == 200
                assert client.get("/_health").status_code == 200
        slow.wait(HEADER_TIMEOUT + 8)
        assert not slow.still_open()  # before the deadline existed they stayed open for good
        for conn in slow.connections:
            assert status_of(conn.response) == 408, conn.response[:200]
            assert HEADER_TIMEOUT - 0.1 <= conn.closed_after <= HEADER_TIMEOUT + 5, conn.closed_after
    finally:
        slow.stop()


def test_a_trickled_body_gets_408_after_the_body_timeout(server: LiveServer) -> None:
    head = b"POST /batch/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    slow = SlowClients(server.port, count=4, opening=head, drip=b" " * 10, interval=0.2).start()
    try:
        assert timed_health(server.url) < 3.0
        slow.wait(BODY_TIMEOUT + 8)
        assert not slow.still_open()
        for conn in slow.connections:
            assert status_of(conn.response) == 408, conn.response[:200]
            assert b'"code":"request_timeout"' in conn.response
            # ~60 bytes arrive; each buys 1/BODY_MIN_RATE s more: the deadline stays near BODY_TIMEOUT
            assert BODY_TIMEOUT - 0.1 <= conn.closed_after <= BODY_TIMEOUT + 5, conn.closed_after
    finally:
        slow.stop()
    log = wait_until(lambda: server.output() if "cut by the server" in server.output() else "", timeout_s=5)
    assert "request body incomplete: POST /batch/" in log
    assert "Traceback" not in log and "ERROR" not in log


def test_a_body_sent_at_a_decent_rate_may_take_longer_than_the_body_timeout(server: LiveServer) -> None:
    """The allowance grows by one second per BODY_MIN_RATE bytes received: a large upload is not cut."""
    token = server.credentials()["project_token"]
    body = capture_body(token, pad=9000)
    chunks = [body[i : i + 1500] for i in range(0, len(body), 1500)]  # 3,000 B/s for ~3 s > BODY_TIMEOUT
    head = f"POST /batch/ HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            time.sleep(0.5)
            sock.sendall(chunk)
        answer = read_until_closed(sock, 10)
    assert time.monotonic() - started > BODY_TIMEOUT
    assert status_of(answer) == 200, answer[:300]


def test_a_connection_answered_before_its_body_arrived_does_not_stay_open(server: LiveServer) -> None:
    """uvicorn cancels its keep-alive timer when the late body arrives, so such a connection used to stay open
    for good; now it is idle and closed after the header deadline."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /no-such-path/ HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n")
        sock.settimeout(5)
        answer = b""
        while not answer.endswith(b"}"):  # the whole 404 (JSON error body), sent without reading the request body
            answer += sock.recv(65536)
        assert status_of(answer) == 404
        sock.sendall(b"0123456789")
        started = time.monotonic()
        assert read_until_closed(sock, HEADER_TIMEOUT + 8) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_a_client_disconnecting_mid_body_is_logged_as_a_disconnect(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /batch/ HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"{" * 1000)
        time.sleep(0.3)
    log = wait_until(lambda: server.output() if "client disconnected" in server.output() else "", timeout_s=5)
    line = next(line for line in log.splitlines() if "client disconnected" in line)
    assert line.startswith("INFO:"), line
    assert "of 100000 declared bytes: POST /batch/" in line
    assert "Traceback" not in log and "ERROR" not in log and "ClientDisconnect" not in log
