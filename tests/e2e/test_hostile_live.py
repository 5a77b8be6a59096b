"""Hostile requests against the real server process: each a 4xx in the error shape; afterwards the server is
healthy and still ingests a good event. Memory-bound checks have their own processes: test_memory_live.py."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.ingest import exception_event, python_frame
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


def test_hostile_requests_then_still_healthy(live_server: LiveServer) -> None:
    url, token = live_server.url, live_server.credentials()["project_token"]

    def batch(*events: object) -> bytes:
        return json.dumps({"api_key": token, "batch": list(events)}).encode()

    good = batch(exception_event("Fine", "ok"))
    cases = [
        (gzip.compress(good)[:-9], {"Content-Encoding": "gzip"}, 400),
        (gzip.compress(b" " * (110 * 1024 * 1024), compresslevel=1), {"Content-Type": "text/plain"}, 413),
        (good.replace(b"ok", b"\xc3\x28"), {}, 400),
        (b'{"api_key":"' + token.encode() + b'","batch":' + b"[" * 3000 + b"]" * 3000 + b"}", {}, 400),
        (batch({"event": "$exception", "properties": {"$exception_list": [{"type": 1}]}}), {}, 400),
        (batch({"event": "$exception", "properties": {"$exception_list": {"type": "E"}}}), {}, 400),
        (batch(exception_event(frames=[python_frame(lineno=i) for i in range(10_000)])), {}, 400),
        (json.dumps({"batch": [exception_event()]}).encode(), {}, 401),
        (batch(*[{"event": "$pageview"}] * 10_001), {}, 413),
    ]
    with httpx.Client(timeout=30) as client:
        for body, headers, status in cases:
            response = client.post(f"{url}/batch/", content=body, headers=headers)
            assert response.status_code == status, response.text
            assert set(response.json()) == {"type", "code", "detail", "attr"}
        assert client.get(f"{url}/_health").json()["status"] == "ok"
        assert client.post(f"{url}/batch/", content=good).status_code == 200

    db = Database(f"sqlite:///{live_server.data_dir / 'faultline.db'}")
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with db.read() as s:
                if s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 1:
                    break
            time.sleep(0.1)
        with db.read() as s:
            assert s.execute(sa.select(Event.properties["$exception_types"])).scalar_one() == ["Fine"]
    finally:
        db.dispose()


@pytest.mark.timeout(120)
def test_trailing_byte_bomb_is_400_and_the_server_keeps_answering(live_server: LiveServer) -> None:
    """The issue's 140-byte body, no token needed: a gzip member inflating past 64 KiB plus one byte made the
    decoder loop forever on the event loop (/_health silent, 100 % CPU, memory growing, SIGTERM ignored). Sent
    with Content-Encoding and as posthog-js does (gzip magic under text/plain), and with a second member."""
    member = gzip.compress(b"[" + b" " * 70_000 + b"]", mtime=0)
    bodies = [member + b"\n", member + gzip.compress(b"x", mtime=0)[:-3], member + b"\x1f"]
    assert all(len(body) < 200 for body in bodies)
    with httpx.Client(timeout=10) as client:
        for body in bodies:
            for headers in ({"Content-Encoding": "gzip"}, {"Content-Type": "text/plain"}):
                response = client.post(f"{live_server.url}/e/", content=body, headers=headers)
                assert response.status_code == 400, response.text
                assert set(response.json()) == {"type", "code", "detail", "attr"}
                assert client.get(f"{live_server.url}/_health", timeout=2).json()["status"] == "ok"
        # A body split over two members (the first past 64 KiB) is decoded completely and accepted.
        token = live_server.credentials()["project_token"]
        good = json.dumps({"api_key": token, "batch": [exception_event(properties={"pad": " " * 70_000})]}).encode()
        two_members = gzip.compress(good[:69_000]) + gzip.compress(good[69_000:])
        response = client.post(f"{live_server.url}/e/", content=two_members, headers={"Content-Type": "text/plain"})
        assert response.status_code == 200, response.text
