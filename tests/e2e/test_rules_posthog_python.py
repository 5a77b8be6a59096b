"""Server-side rules in the real server: the real posthog-python SDK sends over HTTP, the embedded digest worker
applies the grouping, suppression and assignment rules created through the REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from posthog import Posthog

from faultline.db import Database
from faultline.issues.models import Event, IssueAssignment
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


class PaymentDeclined(Exception):
    pass


class GatewayTimeout(Exception):
    pass


class HealthCheckNoise(Exception):
    pass


def caught(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as raised:
        return raised


@pytest.fixture(scope="module")
def db(live_server: LiveServer) -> Iterator[Database]:
    database = Database(f"sqlite:///{Path(live_server.data_dir) / 'faultline.db'}")
    yield database
    database.dispose()


def test_rules_apply_to_real_sdk_events(live_server: LiveServer, db: Database) -> None:
    creds = live_server.credentials()
    headers = {"Authorization": f"Bearer {creds['api_key']}"}
    base = f"{live_server.url}/api/environments/{creds['project_id']}/error_tracking"
    me = httpx.get(f"{live_server.url}/api/users/@me/", headers=headers).json()

    def leaf(key: str, operator: str, value: object) -> dict:
        return {"type": "AND", "values": [{"key": key, "type": "event", "operator": operator, "value": value}]}

    grouping = httpx.post(
        f"{base}/grouping_rules/",
        headers=headers,
        json={
            "filters": leaf("$exception_values", "icontains", "payment"),
            "assignee": {"type": "user", "id": me["id"]},
        },
    ).json()
    suppression = httpx.post(
        f"{base}/suppression_rules/",
        headers=headers,
        json={"filters": leaf("$exception_types", "exact", ["HealthCheckNoise"])},
    )
    assert suppression.status_code == 201

    client = Posthog(creds["project_token"], host=live_server.url, sync_mode=True, max_retries=1)
    client.capture_exception(caught(PaymentDeclined("payment declined: card expired")), distinct_id="alice")
    client.capture_exception(caught(GatewayTimeout("payment gateway timed out")), distinct_id="bob")
    client.capture_exception(caught(HealthCheckNoise("ping")), distinct_id="probe")
    client.capture_exception(caught(GatewayTimeout("inventory service timed out")), distinct_id="carol")
    client.shutdown()

    deadline = time.monotonic() + 30
    while True:
        with db.read() as session:
            events = session.execute(sa.select(Event)).scalars().all()
            report = httpx.get(f"{base}/ingestion/", headers=headers).json()
        if (report["queue"]["pending"] == 0 and len(events) >= 3) or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert report["totals"].get("dropped_suppressed") == 1, report["totals"]  # HealthCheckNoise: the rule dropped it
    by_message = {e.properties["$exception_values"][0]: e for e in events}
    assert set(by_message) == {
        "payment declined: card expired",
        "payment gateway timed out",
        "inventory service timed out",
    }
    grouped = [by_message["payment declined: card expired"], by_message["payment gateway timed out"]]
    assert {e.fingerprint for e in grouped} == {f"custom-rule:{grouping['id']}"}
    assert grouped[0].issue_id == grouped[1].issue_id != by_message["inventory service timed out"].issue_id
    with db.read() as session:
        owner = session.execute(
            sa.select(IssueAssignment.user_id).where(IssueAssignment.issue_id == grouped[0].issue_id)
        ).scalar()
    assert owner == me["id"]
    listed = httpx.get(f"{base}/grouping_rules/", headers=headers).json()["results"]
    assert listed[0]["issue"]["id"] == str(grouped[0].issue_id)
