"""The issue workflow on real pipeline output: SDK-shaped `$exception` events go through the digest pipeline
(`tests.support.ingest`), then the REST API merges, splits and lists them — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.db import Database
from faultline.issues import aggregates
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.factories import aggregate_snapshot
from tests.support.ingest import exception_event, ingest, python_frame

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Api, Database, Tenant]]:
    env = {}
    if request.param == "postgres":
        env["FAULTLINE_DATABASE_URL"] = request.getfixturevalue("pg_url")
    app = create_app(make_settings(tmp_path / "data", **env))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="workflow@acme.test")
        yield Api(client, tenant), app.state.db, tenant


def event(kind: str, message: str, function: str, *, user: str, minutes_ago: int, **extra: Any) -> dict[str, Any]:
    return exception_event(
        kind,
        message,
        frames=[python_frame(function=function)],
        distinct_id=user,
        timestamp=(NOW - dt.timedelta(minutes=minutes_ago)).isoformat(),
        **extra,
    )


def ingested(db: Database, tenant: Tenant, events: list[dict[str, Any]]) -> list[Any]:
    outcomes = ingest(db, tenant.project, events)
    assert [o.status for o in outcomes] == ["stored"] * len(events), outcomes
    return outcomes


def test_merge_and_split_on_ingested_events(backend: tuple[Api, Database, Tenant]) -> None:
    api, db, tenant = backend
    ingested(
        db,
        tenant,
        [
            event("TypeError", "x is undefined", "render", user="u1", minutes_ago=90),
            event("TypeError", "x is undefined", "render", user="u2", minutes_ago=30),
            event("KeyError", "'cart'", "checkout", user="u2", minutes_ago=45),
            event("KeyError", "'cart'", "checkout", user="u3", minutes_ago=5),
            event("ValueError", "bad amount", "pay", user="u4", minutes_ago=10),
        ],
    )
    issues = {i["name"]: i for i in api.get("issues/").json()["results"]}
    assert set(issues) == {"TypeError", "KeyError", "ValueError"}
    assert issues["TypeError"]["aggregates"]["occurrences"] == 2 and issues["TypeError"]["aggregates"]["users"] == 2
    assert sum(issues["KeyError"]["aggregates"]["volume_24h"]) == 2
    target, source, other = issues["TypeError"]["id"], issues["KeyError"]["id"], issues["ValueError"]["id"]
    source_events = {e["id"] for e in api.get(f"issues/{source}/events/").json()["results"]}
    [source_fp] = [f["fingerprint"] for f in api.get("fingerprints/", params={"issue_id": source}).json()["results"]]

    assert api.post(f"issues/{target}/merge/", json={"ids": [source]}).json() == {"success": True}
    merged = api.get(f"issues/{target}/events/").json()
    # Events ingested before the merge are listed under the surviving issue.
    assert source_events <= {e["id"] for e in merged["results"]} and merged["count"] == 4
    assert [e["distinct_id"] for e in merged["results"]] == ["u3", "u2", "u2", "u1"]  # newest first
    detail = api.get(f"issues/{target}/").json()
    assert detail["aggregates"]["occurrences"] == 4 and detail["aggregates"]["users"] == 3
    assert api.get(f"issues/{source}/", params={"fingerprint": source_fp}).json() == {"issue_id": target}
    with db.write() as session:
        combined = aggregate_snapshot(session, uuid.UUID(target))
        aggregates.recompute(session, [uuid.UUID(target)])
        assert aggregate_snapshot(session, uuid.UUID(target)) == combined

    # A new event with the merged-away fingerprint now lands in the survivor.
    [late] = ingested(db, tenant, [event("KeyError", "'cart'", "checkout", user="u9", minutes_ago=1)])
    assert str(late.issue_id) == target
    assert api.get(f"issues/{target}/").json()["aggregates"]["occurrences"] == 5

    # Splitting the fingerprint off again moves its events (including the late one) to a new issue.
    split = api.post(f"issues/{target}/split/", json={"fingerprints": [{"fingerprint": source_fp, "name": "Cart"}]})
    [new_id] = split.json()["new_issue_ids"]
    moved = api.get(f"issues/{new_id}/events/").json()
    assert moved["count"] == 3 and {e["distinct_id"] for e in moved["results"]} == {"u2", "u3", "u9"}
    assert api.get(f"issues/{target}/").json()["aggregates"]["occurrences"] == 2
    [later] = ingested(db, tenant, [event("KeyError", "'cart'", "checkout", user="u10", minutes_ago=0)])
    assert str(later.issue_id) == new_id
    versions = {f["fingerprint"]: f["version"] for f in api.get("fingerprints/").json()["results"]}
    assert versions[source_fp] == 2
    assert api.get(f"issues/{other}/").json()["aggregates"]["occurrences"] == 1


def test_search_covers_every_exception_of_a_chain(backend: tuple[Api, Database, Tenant]) -> None:
    api, db, tenant = backend
    chained = event("RuntimeError", "request failed", "handler", user="u1", minutes_ago=3)
    chained["properties"]["$exception_list"].insert(
        0,
        {"type": "ConnectionResetError", "value": "peer reset the socket", "mechanism": {"type": "generic"}},
    )
    ingested(db, tenant, [chained, event("ValueError", "nope", "f", user="u2", minutes_ago=2)])

    def found(text: str) -> list[str]:
        return [i["name"] for i in api.get("issues/", params={"search": text}).json()["results"]]

    name = found("RuntimeError") or found("ConnectionResetError")
    assert len(name) == 1
    # Both exceptions of the chain are searchable, by type and by message, whichever one names the issue.
    assert found("connectionreset") == name and found("runtimeerror") == name
    assert found("PEER RESET") == name and found("request failed") == name
    assert found("nope") == ["ValueError"]
