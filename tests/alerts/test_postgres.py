"""The same alert path on the machine's real PostgreSQL: bucket upserts and the spike in the digest, fan-out with
its ON CONFLICT dedupe, the lease shared by two deliverers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.alerts.delivery import Deliverer
from faultline.alerts.spikes import bucket_of
from faultline.app import create_app
from faultline.db import utcnow
from faultline.runtime import Runtime
from tests.conftest import make_settings, make_tenant
from tests.support.ingest import exception_event, ingest
from tests.support.receivers import http_receiver

pytestmark = pytest.mark.postgres


def test_spike_alert_and_lease_on_postgres(tmp_path: Path, pg_url: str) -> None:
    settings = make_settings(
        tmp_path / "data",
        FAULTLINE_DATABASE_URL=pg_url,
        FAULTLINE_ALERT_ALLOW_INTERNAL_URLS="true",
        FAULTLINE_ALERT_RETRY_SECONDS="0",
    )
    runtime = Runtime.for_server(settings)
    try:
        with TestClient(create_app(runtime=runtime)) as client, http_receiver() as receiver:
            db = runtime.db
            seed = make_tenant(db, email="pg@acme.test")
            base = f"/api/environments/{seed.project.id}/error_tracking"
            client.patch(f"{base}/spike_detection_config/", headers=seed.headers, json={"threshold": 10})
            created = client.post(
                f"{base}/alerts/",
                headers=seed.headers,
                json={
                    "name": "pg",
                    "triggers": ["issue_spiking", "issue_created"],
                    "destinations": [{"channel_type": "webhook", "config": {"url": receiver.url + "/pg"}}],
                },
            )
            assert created.status_code == 201, created.text
            t0 = bucket_of(utcnow()) - dt.timedelta(minutes=30)
            steady = [exception_event("PgError", "x", timestamp=(t0 + dt.timedelta(minutes=1)).isoformat())]
            burst = [
                exception_event("PgError", "x", timestamp=(t0 + dt.timedelta(minutes=6)).isoformat()) for _ in range(12)
            ]
            ingest(db, seed.project, steady)
            ingest(db, seed.project, burst[:6])
            ingest(db, seed.project, burst[6:])  # the same bucket, incremented by a second batch
            first, second = Deliverer(db, settings), Deliverer(db, settings)
            assert first.run_once() == 2
            assert second.run_once() == 0
            assert sorted(r.json()["trigger"] for r in receiver.at("/pg")) == ["issue_created", "issue_spiking"]
            [spike] = client.get(f"{base}/spike_events/", headers=seed.headers).json()["results"]
            assert spike["current_bucket_value"] == 12 and spike["computed_baseline"] == 1.0
            first.stop()
    finally:
        runtime.close()
