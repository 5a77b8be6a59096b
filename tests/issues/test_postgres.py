"""The PostgreSQL paths that differ from SQLite: NULLS LAST ordering, ILIKE search, date_trunc buckets, INSERT …
SELECT … ON CONFLICT merges, FOR UPDATE locks, savepoint-guarded unique hashes, NUL characters in text/jsonb."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.db import Database
from faultline.issues import aggregates
from faultline.issues.models import IssueFingerprint
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.clock import mid_hour
from tests.support.factories import BASE_TIME, Ev, aggregate_snapshot, create_issue

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(tmp_path: Path, pg_url: str) -> Iterator[tuple[Api, Database, Tenant]]:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        db = app.state.db
        assert db.dialect == "postgresql"
        tenant = make_tenant(db, email="pg@acme.test")
        yield Api(client, tenant), db, tenant


def at(minutes: int) -> dt.datetime:
    return BASE_TIME + dt.timedelta(minutes=minutes)


def test_list_merge_split_on_postgres(pg: tuple[Api, Database, Tenant]) -> None:
    api, db, tenant = pg
    pid = tenant.project.id
    with db.write() as session:
        target = create_issue(
            session, pid, name="Target", fingerprints=["t"], events=[Ev(at(0), "u1"), Ev(at(70), "u2")]
        )
        source = create_issue(
            session,
            pid,
            name="Source",
            fingerprints=["s1", "s2"],
            events=[Ev(at(1), "u2", "s1"), Ev(at(200), "u3", "s2")],
            exception_types=["ZeroDivisionError"],
        )
        never = create_issue(session, pid, name="Never seen", description=None, fingerprints=["n"])

    listed = [i["name"] for i in api.get("issues/").json()["results"]]
    assert listed == ["Source", "Target", "Never seen"]  # NULL last_seen sorts last, as on SQLite
    ascending = [i["name"] for i in api.get("issues/", params={"order_direction": "ASC"}).json()["results"]]
    assert ascending == ["Never seen", "Target", "Source"]
    assert [i["name"] for i in api.get("issues/", params={"search": "zerodivision"}).json()["results"]] == ["Source"]
    assert api.get("issues/", params={"search": "100%_\x00"}).json()["count"] == 0
    assert api.patch(f"issues/{never.id}/", json={"name": "nul\x00name"}).json()["name"] == "nul\ufffdname"

    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]}).json() == {"success": True}
    detail = api.get(f"issues/{target.id}/").json()
    assert detail["aggregates"]["occurrences"] == 4 and detail["aggregates"]["users"] == 3
    assert api.get(f"issues/{source.id}/", params={"fingerprint": "s1"}).json() == {"issue_id": str(target.id)}
    with db.write() as session:
        combined = aggregate_snapshot(session, target.id)
        aggregates.recompute(session, [target.id])
        assert aggregate_snapshot(session, target.id) == combined

    split = api.post(f"issues/{target.id}/split/", json={"fingerprints": [{"fingerprint": "s2", "name": "Back"}]})
    [new_id] = split.json()["new_issue_ids"]
    new = api.get(f"issues/{new_id}/").json()
    assert new["aggregates"]["occurrences"] == 1 and new["last_seen"] == "2026-03-02T15:50:00Z"
    assert sum(new["aggregates"]["volume_14d"]) == 0  # 2026-03 is outside "now"'s 14-day window
    with db.read() as session:
        versions = dict(session.execute(sa.select(IssueFingerprint.fingerprint, IssueFingerprint.version)).all())
        hourly = aggregate_snapshot(session, new_id)["hourly"]
    assert versions == {"t": 0, "s1": 1, "s2": 2, "n": 0}
    assert hourly == {at(200).replace(minute=0): 1}

    assert api.patch(f"issues/{target.id}/assign/", json={"assignee": {"type": "user", "id": 2**40}}).status_code == 400
    assert api.post("issues/bulk/", json={"action": "set_status", "status": "resolved", "ids": [new_id]}).is_success
    assert [i["name"] for i in api.get("issues/", params={"status": "resolved"}).json()["results"]] == ["Back"]


def test_volume_series_on_postgres(pg: tuple[Api, Database, Tenant]) -> None:
    api, db, tenant = pg
    with mid_hour() as now:
        hour = now.replace(minute=0, second=0, microsecond=0)
        events = [
            Ev(now),
            Ev(hour - dt.timedelta(minutes=30)),
            Ev(hour - dt.timedelta(hours=23)),
            Ev(hour.replace(hour=0) - dt.timedelta(days=13)),
        ]
        with db.write() as session:
            built = create_issue(session, tenant.project.id, events=events)
        aggregates_out = api.get(f"issues/{built.id}/").json()["aggregates"]
    hourly, daily = aggregates_out["volume_24h"], aggregates_out["volume_14d"]
    assert (hourly[-1], hourly[-2], hourly[0], sum(hourly)) == (1, 1, 1, 3)
    assert daily[0] == 1 and sum(daily) == 4
    # Searching exercises the one-pass probe on PostgreSQL too.
    found = api.get("issues/", params={"search": "cannot READ", "order_direction": "ASC"}).json()
    assert found["count"] == 1 and found["results"][0]["id"] == str(built.id)


def test_releases_and_frames_on_postgres(pg: tuple[Api, Database, Tenant]) -> None:
    api, _db, _tenant = pg
    body = {"version": "1\x00", "project": "web", "hash_id": "h1", "metadata": {"k\x00": ["v\x00", {"git": 1}]}}
    created = api.post("releases/", json=body)
    assert created.status_code == 201 and created.json()["metadata"] == {"k\ufffd": ["v\ufffd", {"git": 1}]}
    assert api.post("releases/", json={"version": "2", "project": "web", "hash_id": "h1"}).status_code == 400
    second = api.post("releases/", json={"version": "2", "project": "web"}).json()
    assert (
        api.patch(f"releases/{second['id']}/", json={"hash_id": "h1"}).json()["detail"] == "Hash id h1 already in use"
    )
    assert api.get("releases/hash/h%001/").status_code == 404
    assert api.post("stack_frames/batch_get/", json={"raw_ids": ["x\x00/0", "a/99999999999999999999"]}).json() == {
        "results": []
    }
    assert api.get("fingerprints/resolve/", params={"fingerprint": "\x00"}).status_code == 404
