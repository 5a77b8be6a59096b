"""A backlog over FAULTLINE_HEALTH_BACKLOG_THRESHOLD makes `/_health` degraded (still HTTP 200) and the ingestion
diagnostics say why. `--no-worker`, so nothing digests and the backlog is exactly what was sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, running, wait_until

pytestmark = pytest.mark.slow

THRESHOLD = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running(
        LiveServer(
            data_dir=tmp_path_factory.mktemp("backlog") / "data",
            env_overrides={"FAULTLINE_HEALTH_BACKLOG_THRESHOLD": str(THRESHOLD)},
            extra_args=["--no-worker"],
        )
    ) as live:
        yield live


def test_backlog_over_the_threshold_is_degraded(server: LiveServer) -> None:
    creds = server.credentials()

    def send(n: int) -> None:
        body = {"api_key": creds["project_token"], "batch": [exception_event("Waiting") for _ in range(n)]}
        assert httpx.post(f"{server.url}/batch/", content=json.dumps(body)).status_code == 200

    send(THRESHOLD)
    at_threshold = httpx.get(f"{server.url}/_health")
    assert (at_threshold.status_code, at_threshold.json()["status"], at_threshold.json()["reasons"]) == (200, "ok", [])

    send(1)
    health = wait_until(
        lambda: (r := httpx.get(f"{server.url}/_health")).json()["status"] == "degraded" and r, timeout_s=10
    )
    assert health and health.status_code == 200
    assert health.json()["reasons"] == [
        {
            "code": "queue_backlog",
            "detail": f"{THRESHOLD + 1} events wait in the queue, more than FAULTLINE_HEALTH_BACKLOG_THRESHOLD="
            f"{THRESHOLD}: the digest worker is behind or not running.",
            "since": None,
        }
    ]

    report = httpx.get(
        f"{server.url}/api/environments/{creds['project_id']}/error_tracking/ingestion/",
        headers={"Authorization": f"Bearer {creds['api_key']}"},
    ).json()
    assert report["health"] == {"status": "degraded", "reasons": health.json()["reasons"]}
    assert report["queue"] == {"backend": "sqlite", "pending": THRESHOLD + 1}
