"""A hostile script host against the real `faultline serve` process: its digest worker fetches a `br` bomb and
trickling scripts, and stays small in memory and keeps digesting (issue 11 §3).

The worker's peak memory is the kernel's high-water mark of the server process (`VmHWM`), read before and after:
the bomb inflates to 256 MiB, which httpx's own decoding used to materialise (several times over) in one go.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import brotli
import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.live_server import LiveServer, wait_until
from tests.symbols.support import SAMPLES, Route, ScriptServer, script_server

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
BOMB = 256 * MIB
MIN_JS = (SAMPLES / "js_bundle" / "app.min.js").read_bytes()
MIN_MAP = (SAMPLES / "js_bundle" / "app.min.js.map").read_bytes()


def brotli_bomb(size: int) -> bytes:
    """`size` zero bytes as `br`, compressed a block at a time (the test never holds the inflated bytes)."""
    compressor = brotli.Compressor(quality=5)
    block = b"\0" * MIB
    return b"".join(compressor.process(block) for _ in range(size // MIB)) + compressor.finish()


@pytest.fixture(scope="module")
def scripts() -> Iterator[ScriptServer]:
    with script_server() as server:
        server.routes["/static/app.min.js"] = Route(body=MIN_JS)
        server.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
        server.routes["/bomb.js"] = Route(body=brotli_bomb(BOMB), headers={"Content-Encoding": "br"})
        for n in range(4):
            server.routes[f"/slow{n}.js"] = Route(body=MIN_JS, trickle=0.02)  # ~9 s each
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS": "true",
        "FAULTLINE_SOURCEMAP_MAX_BYTES": str(MIB),
        "FAULTLINE_SOURCEMAP_DEADLINE": "2",
        "FAULTLINE_SOURCEMAP_BATCH_BUDGET": "3",
        "FAULTLINE_WORKER_BATCH_SIZE": "1",
    }
    live = LiveServer(data_dir=tmp_path_factory.mktemp("fetch-live") / "data", env_overrides=env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def js_event(*urls: str) -> dict[str, Any]:
    frames = [{"platform": "web:javascript", "filename": u, "function": "i", "lineno": 1, "colno": 59} for u in urls]
    return {
        "event": "$exception",
        "uuid": str(uuid.uuid4()),
        "distinct_id": "user-1",
        "properties": {
            "$exception_list": [{"type": "TypeError", "value": "boom", "stacktrace": {"type": "raw", "frames": frames}}]
        },
    }


def send(server: LiveServer, event: dict[str, Any]) -> str:
    token = server.credentials()["project_token"]
    response = httpx.post(f"{server.url}/batch/", json={"api_key": token, "batch": [event]}, timeout=10)
    assert response.status_code == 200, response.text
    return event["uuid"]


def stored_failures(server: LiveServer, event_uuid: str, timeout_s: float = 15) -> list[str | None]:
    db = Database(f"sqlite:///{server.data_dir / 'faultline.db'}")
    try:

        def frames() -> list[dict[str, Any]] | None:
            with db.read() as session:
                props = session.scalar(sa.select(Event.properties).where(Event.uuid == uuid.UUID(event_uuid)))
            return None if props is None else props["$exception_list"][0]["stacktrace"]["frames"]

        found = wait_until(frames, timeout_s=timeout_s, interval_s=0.1)
        assert found is not None, f"event {event_uuid} was not digested within {timeout_s} s"
        return [frame.get("resolve_failure") for frame in found]
    finally:
        db.dispose()


def test_bomb_costs_the_worker_no_memory_and_a_trickling_host_no_time(server: LiveServer, scripts) -> None:
    assert server.process is not None
    # Warm-up: the worker's first fetch builds its HTTP client and parses a real map.
    assert stored_failures(server, send(server, js_event(f"{scripts.url}/static/app.min.js"))) == [None]
    before = server.memory_mib()["VmHWM"]

    [bomb_failure] = stored_failures(server, send(server, js_event(f"{scripts.url}/bomb.js")))
    assert bomb_failure is not None and f"exceeded the {MIB} byte limit" in bomb_failure
    grown = server.memory_mib()["VmHWM"] - before
    assert grown < 64, f"the worker's peak memory grew by {grown} MiB fetching a 256 MiB br bomb"

    # Four trickling scripts (~9 s each): the first is cut at its deadline, its host is remembered, the rest are
    # not even requested, and the next event — in a batch of its own — is digested right after.
    started = time.monotonic()
    slow = send(server, js_event(*(f"{scripts.url}/slow{n}.js" for n in range(4))))
    after = send(server, js_event(f"{scripts.url}/static/app.min.js"))
    failures = stored_failures(server, slow)
    assert "FAULTLINE_SOURCEMAP_DEADLINE" in (failures[0] or "")
    assert all("its host failed" in (f or "") for f in failures[1:])
    assert stored_failures(server, after) == [None]
    assert time.monotonic() - started < 10  # the trickle alone would take 36 s
    assert [hit for hit in scripts.hits if hit[1].startswith("/slow")] == [("GET", "/slow0.js")]
