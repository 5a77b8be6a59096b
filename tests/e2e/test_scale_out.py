"""The scale-out topology as processes: `faultline serve --no-worker` capturing into Redis Streams and a separate
`faultline worker` digesting into PostgreSQL; the worker stops cleanly on SIGTERM, and the consumer it leaves in
the group is removed by the next worker once `FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS` passed."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event, Issue
from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def test_serve_no_worker_plus_worker_over_redis_and_postgres(tmp_path: Path, pg_url: str) -> None:
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS UNAVAILABLE — {exc}")
    stream = f"faultline-test-{uuid.uuid4().hex}"
    env = {
        "FAULTLINE_QUEUE_URL": f"redis://127.0.0.1:6379/0?stream={stream}",
        "FAULTLINE_DATABASE_URL": pg_url,
        "FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS": "1",
    }
    server = LiveServer(data_dir=tmp_path / "data", env_overrides=env, extra_args=["--no-worker"])
    server.start()
    worker = None
    try:
        token = server.credentials()["project_token"]
        events = [exception_event("ScaleOut", "m", distinct_id=f"u{i}") for i in range(30)]
        response = httpx.post(f"{server.url}/batch/", json={"api_key": token, "batch": events})
        assert response.status_code == 200
        time.sleep(0.5)
        db = Database(pg_url)
        with db.read() as s:
            assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 0  # nobody digests yet
        assert redis.Redis.from_url("redis://127.0.0.1:6379/0").xlen(stream) == 30

        worker = server.start_worker()
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline:
            with db.read() as s:
                count = s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()
            if count == 30:
                break
            time.sleep(0.2)
        assert count == 30
        with db.read() as s:
            assert s.execute(sa.select(Issue.name, Issue.occurrences, Issue.users)).one() == ("ScaleOut", 30, 30)
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, output
        assert "stopped after 30 events" in output

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        (first,) = [c["name"] for c in client.xinfo_consumers(stream, "digest")]  # the stopped worker's consumer
        time.sleep(1.2)
        worker = server.start_worker()
        late = exception_event("ScaleOut", "late")
        assert httpx.post(f"{server.url}/batch/", json={"api_key": token, "batch": [late]}).status_code == 200
        names = wait_until(
            lambda: (n := {c["name"] for c in client.xinfo_consumers(stream, "digest")}) and first not in n and n
        )
        assert names and first not in names and len(names) == 1

        def stored() -> int:
            with db.read() as s:
                return s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()

        assert wait_until(lambda: stored() == 31)
        db.dispose()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        server.stop()
        redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(stream, f"{stream}:bytes")
