"""Hostile requests against the real server process: each a 4xx in the error shape; afterwards the server is
healthy and still ingests a good event."""

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
