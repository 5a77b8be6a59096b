"""Quotas and retention on a live `faultline serve` (raw HTTP, as SDKs send it): the retention service keeps stored
event bytes near a tiny budget while events arrive, `/_health` and `error_tracking/storage/` warn about it, and a
project over its rate limit gets 429 with `Retry-After` in PostHog's error shape at capture."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, wait_until

pytestmark = [pytest.mark.slow]

BUDGET = 40_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "FAULTLINE_STORAGE_BUDGET": str(BUDGET),
        "FAULTLINE_RETENTION_INTERVAL": "0.2",
        "FAULTLINE_STORAGE_WARN_PERCENT": "50",
    }
    live = LiveServer(data_dir=Path(tmp_path_factory.mktemp("quotas")) / "data", env_overrides=env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def post(server: LiveServer, token: str, events: list[dict]) -> httpx.Response:
    return httpx.post(f"{server.url}/batch/", json={"api_key": token, "batch": events}, timeout=30)


def test_budget_warnings_then_project_rate_limit(server: LiveServer) -> None:
    credentials = server.credentials()
    token, project_id = credentials["project_token"], credentials["project_id"]
    api = {"Authorization": f"Bearer {credentials['api_key']}"}
    base = f"{server.url}/api/environments/{project_id}/error_tracking"

    # Retention under a byte budget, live: 150 events of 5 issues (~1 KB each, ~4× the budget).
    for start in range(0, 150, 25):
        batch = [exception_event(f"Budget{n % 5}Error", "loop", distinct_id=f"u{n}") for n in range(start, start + 25)]
        assert post(server, token, batch).status_code == 200
    ingestion = f"{base}/ingestion/"
    assert wait_until(lambda: httpx.get(ingestion, headers=api).json()["totals"].get("accepted") == 150, 120)

    def settled() -> dict | None:
        # Warnings come from a reading cached for 5 s (a health check may come every second): wait for them too.
        found = httpx.get(f"{base}/storage/", headers=api).json()
        return found if found["event_bytes"] <= BUDGET * 1.1 and found["warnings"] else None

    storage = wait_until(settled, 60)
    assert BUDGET * 0.9 <= storage["event_bytes"] <= BUDGET * 1.1
    assert storage["budget"] == {
        "bytes": BUDGET,
        "used_percent": pytest.approx(storage["budget"]["used_percent"]),
        "warn_percent": 50,
    }
    assert {w["code"] for w in storage["warnings"]} == {"storage_budget"}
    assert len(storage["issues"]) == 5 and sum(i["occurrences"] for i in storage["issues"]) == 150
    assert sum(i["events"] for i in storage["issues"]) == storage["events"] < 150
    one = storage["issues"][0]
    assert httpx.get(f"{base}/storage/issues/{one['id']}/", headers=api).json()["event_bytes"] == one["event_bytes"]
    health = wait_until(lambda: (h := httpx.get(f"{server.url}/_health").json())["status"] == "degraded" and h)
    assert "storage_budget" in {reason["code"] for reason in health["reasons"]}

    # The project rate limit at capture: 5 events per hour, then 429 + Retry-After.
    patched = httpx.patch(
        f"{base}/settings/",
        headers=api,
        json={"project_rate_limit_value": 5, "project_rate_limit_bucket_size_minutes": 60},
    )
    assert patched.status_code == 200, patched.text
    time.sleep(5.5)  # the settings cache of capture (5 s) has certainly expired: the limit applies from here
    statuses = [post(server, token, [exception_event("LimitError", f"e{n}")]).status_code for n in range(5)]
    assert statuses == [200] * 5
    refused = post(server, token, [exception_event("LimitError", "one too many")])
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    body = refused.json()
    assert set(body) == {"type", "code", "detail", "attr"}
    assert (body["type"], body["code"], body["attr"]) == ("throttled_error", "throttled", None)
    # Other events are still acknowledged (nothing to store, nothing to limit).
    assert post(server, token, [{"event": "$pageview", "distinct_id": "u", "properties": {}}]).status_code == 200
    report = wait_until(lambda: (r := httpx.get(ingestion, headers=api).json())["totals"].get("rate_limited") and r)
    assert report["totals"]["rate_limited"] == 1
