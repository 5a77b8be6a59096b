"""Spike detection in the digest: a steady issue then a burst spikes once (a `spike_events` row and one spiking
alert delivered to a webhook on loopback); the snooze holds back a second burst; the config API's thresholds apply.

Event times are placed relative to now in whole 5-minute buckets, so the test never depends on the wall clock's
position inside a bucket."""

from __future__ import annotations

import datetime as dt

from faultline.alerts.delivery import Deliverer
from faultline.alerts.spikes import bucket_of
from faultline.db import utcnow
from tests.support.ingest import exception_event, ingest
from tests.support.receivers import http_receiver
from tests.web.conftest import login


def _events(exc_type: str, at: dt.datetime, n: int) -> list[dict]:
    return [exception_event(exc_type, "card declined", timestamp=at.isoformat(), distinct_id=f"u{i}") for i in range(n)]


def _spike_alert(client, seed, url: str) -> dict:
    base = f"/api/environments/{seed.project.id}/error_tracking"
    response = client.post(
        f"{base}/alerts/",
        headers=seed.headers,
        json={
            "name": "spikes",
            "triggers": ["issue_spiking"],
            "destinations": [{"channel_type": "webhook", "config": {"url": url}}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_steady_issue_then_burst_spikes_once_and_the_snooze_holds_the_second(client, seed, db, settings) -> None:
    base = f"/api/environments/{seed.project.id}/error_tracking"
    assert client.get(f"{base}/spike_detection_config/", headers=seed.headers).json() == {
        "multiplier": 10.0,
        "threshold": 500,
        "snooze_duration_minutes": 10,
    }
    patched = client.patch(
        f"{base}/spike_detection_config/", headers=seed.headers, json={"threshold": 20, "multiplier": 3}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {"multiplier": 3.0, "threshold": 20, "snooze_duration_minutes": 10}

    with http_receiver() as receiver:
        _spike_alert(client, seed, receiver.url + "/hook")
        deliverer = Deliverer(db, settings)
        t0 = bucket_of(utcnow()) - dt.timedelta(minutes=40)
        steady = [e for k in range(4) for e in _events("PaymentError", t0 + dt.timedelta(minutes=5 * k + 1), 2)]
        ingest(db, seed.project, steady)
        deliverer.run_once()
        assert receiver.requests == []  # 2 events a bucket: no spike
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 0

        ingest(db, seed.project, _events("PaymentError", t0 + dt.timedelta(minutes=21), 30))
        deliverer.run_once()
        events = client.get(f"{base}/spike_events/", headers=seed.headers).json()
        assert events["count"] == 1
        spike = events["results"][0]
        assert spike["current_bucket_value"] == 30
        assert spike["computed_baseline"] == 2.0
        [sent] = receiver.ok_at("/hook")
        body = sent.json()
        assert body["trigger"] == "issue_spiking"
        assert body["issue"]["id"] == spike["issue_id"]
        assert body["counts"]["current_bucket_value"] == 30
        assert body["counts"]["computed_baseline"] == 2.0

        # 200 in the next bucket is > 3 × mean(2, 2, 2, 2, 30) and ≥ 20, but the issue is snoozed for 10 minutes.
        ingest(db, seed.project, _events("PaymentError", t0 + dt.timedelta(minutes=26), 200))
        deliverer.run_once()
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 1
        assert len(receiver.requests) == 1

    # The issue list and the issue page mark the spiking issue, and only it.
    ingest(db, seed.project, _events("CalmError", t0 + dt.timedelta(minutes=1), 1))
    assert login(client, seed.user.email).status_code == 303
    listing = client.get(f"/project/{seed.project.id}/issues")
    assert listing.status_code == 200
    assert listing.text.count('class="badge danger spiking"') == 1
    row = listing.text.split(f'value="{spike["issue_id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "spiking" in row
    detail = client.get(f"/project/{seed.project.id}/issues/{spike['issue_id']}")
    assert 'id="spiking-badge"' in detail.text


def test_thresholds_from_the_config_api_apply(client, seed, db, settings) -> None:
    base = f"/api/environments/{seed.project.id}/error_tracking"
    with http_receiver() as receiver:
        _spike_alert(client, seed, receiver.url + "/hook")
        deliverer = Deliverer(db, settings)
        t0 = bucket_of(utcnow()) - dt.timedelta(minutes=30)
        client.patch(f"{base}/spike_detection_config/", headers=seed.headers, json={"threshold": 60})
        ingest(db, seed.project, _events("QuotaError", t0 + dt.timedelta(minutes=1), 50))
        deliverer.run_once()
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 0  # 50 < 60
        assert receiver.requests == []

        client.patch(f"{base}/spike_detection_config/", headers=seed.headers, json={"threshold": 55})
        ingest(db, seed.project, _events("QuotaError", t0 + dt.timedelta(minutes=2), 10))  # same bucket: 60 ≥ 55
        deliverer.run_once()
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 1
        assert len(receiver.ok_at("/hook")) == 1

        # A multiplier that the baseline (60 in the earlier bucket) is not beaten by: 100 ≤ 60 × 2.
        client.patch(
            f"{base}/spike_detection_config/",
            headers=seed.headers,
            json={"threshold": 1, "multiplier": 2, "snooze_duration_minutes": 0},
        )
        ingest(db, seed.project, _events("QuotaError", t0 + dt.timedelta(minutes=6), 100))
        deliverer.run_once()
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 1
        ingest(
            db, seed.project, _events("QuotaError", t0 + dt.timedelta(minutes=16), 200)
        )  # after the first snooze; 200 > 2 × mean(60, 100)
        deliverer.run_once()
        assert client.get(f"{base}/spike_events/", headers=seed.headers).json()["count"] == 2
        assert len(receiver.ok_at("/hook")) == 2
