"""A full queue, live: `faultline serve --no-worker` with a small `FAULTLINE_QUEUE_MAX_EVENTS`, on the embedded
SQLite queue and on Redis Streams.

Regression: the queue was unbounded — with the worker stopped, 200,000 events were acknowledged into an 821 MB
queue.db. Now capture fills the queue exactly up to the bound, then answers 503 `queue_full` with `Retry-After`
in PostHog's error shape; everything acknowledged before is digested once a worker runs, and capture accepts
again once the queue drained.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.slow]

BOUND = 10
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    env = {"FAULTLINE_QUEUE_MAX_EVENTS": str(BOUND)}
    stream = None
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.skip(f"REDIS UNAVAILABLE — {exc}")
        stream = f"faultline-test-{uuid.uuid4().hex}"
        env["FAULTLINE_QUEUE_URL"] = f"{REDIS_URL}?stream={stream}"
    live = LiveServer(data_dir=tmp_path / "data", env_overrides=env, extra_args=["--no-worker"])
    live.start()
    try:
        yield live
    finally:
        live.stop()
        if stream is not None:
            redis.Redis.from_url(REDIS_URL).delete(stream, f"{stream}:bytes")


def post(server: LiveServer, token: str, events: list[dict]) -> httpx.Response:
    return httpx.post(f"{server.url}/batch/", json={"api_key": token, "batch": events}, timeout=30)


def test_capture_fills_the_queue_to_the_bound_then_answers_503_until_drained(server: LiveServer) -> None:
    credentials = server.credentials()
    token, project_id = credentials["project_token"], credentials["project_id"]
    api = {"Authorization": f"Bearer {credentials['api_key']}"}
    acked: list[str] = []
    for size in (4, 4, 2):  # 10 events: the bound reached exactly, every request accepted
        events = [exception_event("QueueFull", f"m{len(acked) + i}") for i in range(size)]
        assert post(server, token, events).status_code == 200
        acked += [e["uuid"] for e in events]

    refused = post(server, token, [exception_event("QueueFull", "one too many")])
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    body = refused.json()
    assert set(body) == {"type", "code", "detail", "attr"}
    assert (body["type"], body["code"], body["attr"]) == ("server_error", "queue_full", None)
    # Events that are not stored never needed room: still acknowledged.
    assert post(server, token, [{"event": "$pageview", "distinct_id": "u", "properties": {}}]).status_code == 200

    report_url = f"{server.url}/api/environments/{project_id}/error_tracking/ingestion/"
    report = wait_until(lambda: (r := httpx.get(report_url, headers=api).json())["totals"]["queue_full"] and r)
    assert (report["totals"]["received"], report["totals"]["queue_full"]) == (BOUND, 1)
    assert report["queue"]["pending"] == BOUND
    assert any(e["code"] == "queue_full" for e in report["recent_errors"])

    worker = server.start_worker()
    db = Database(f"sqlite:///{server.data_dir / 'faultline.db'}")
    try:

        def stored() -> set[str]:
            with db.read() as session:
                return {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}

        assert wait_until(lambda: stored() == set(acked), timeout_s=60), "acknowledged events were lost"
        assert wait_until(lambda: httpx.get(report_url, headers=api).json()["queue"]["pending"] == 0)
        again = [exception_event("QueueFull", "after the drain")]
        assert post(server, token, again).status_code == 200
        assert wait_until(lambda: again[0]["uuid"] in stored())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        db.dispose()
    assert worker.returncode == 0, output
