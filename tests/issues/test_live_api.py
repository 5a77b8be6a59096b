"""The issue workflow over a real socket: the `faultline serve` process, its bootstrap API key, httpx.

Issues are inserted into the server's database the way the digest worker would leave them (the ingestion pipeline
is exercised by its own end-to-end tests); everything else goes through HTTP.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from faultline.db import Database
from tests.support.factories import BASE_TIME, Ev, create_issue
from tests.support.live_server import LiveServer


@pytest.mark.slow
def test_triage_flow_against_the_real_server(live_server: LiveServer) -> None:
    creds = live_server.credentials()
    project_id = int(creds["project_id"])
    db = Database(f"sqlite:///{live_server.data_dir / 'faultline.db'}")
    try:
        with db.write() as session:
            first = create_issue(
                session, project_id, name="TypeError", fingerprints=["fp-a"], events=[Ev(BASE_TIME, "u1")]
            )
            second = create_issue(
                session,
                project_id,
                name="TypeError",
                fingerprints=["fp-b"],
                events=[Ev(BASE_TIME + dt.timedelta(minutes=5), "u2")],
            )
    finally:
        db.dispose()
    with httpx.Client(
        base_url=f"{live_server.url}/api/environments/{project_id}/error_tracking",
        headers={"Authorization": f"Bearer {creds['api_key']}"},
        timeout=10,
    ) as http:
        listed = http.get("/issues/", params={"search": "typeerror"}).json()
        assert [i["id"] for i in listed["results"]] == [str(second.id), str(first.id)]
        assert http.post(f"/issues/{first.id}/merge", json={"ids": [str(second.id)]}).json() == {"success": True}
        moved = http.get(f"/issues/{second.id}", params={"fingerprint": "fp-b"})
        assert moved.status_code == 308 and moved.json() == {"issue_id": str(first.id)}
        assert http.patch(f"/issues/{first.id}/", json={"status": "resolved"}).json()["status"] == "resolved"
        events = http.get(f"/issues/{first.id}/events/").json()
        assert events["count"] == 2 and events["results"][0]["distinct_id"] == "u2"
        release = http.post("/releases", json={"version": "1.0.0", "project": "web"})
        assert release.status_code == 201
        assert http.get(f"/releases/hash/{release.json()['hash_id']}").json()["version"] == "1.0.0"
        assert http.delete(f"/fingerprints/{http.get('/fingerprints/').json()['results'][0]['id']}/").status_code == 405
        # Older clients (posthog-cli) use /api/projects/.
        legacy = httpx.get(
            f"{live_server.url}/api/projects/{project_id}/error_tracking/issues",
            headers={"Authorization": f"Bearer {creds['api_key']}"},
        )
        assert legacy.json()["count"] == 1
