"""Another organization's issues, fingerprints, events and activity: 404 on detail routes, never listed, ignored in
bulk operations and merges, never reachable through fingerprint redirects."""

from __future__ import annotations

import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Issue, IssueFingerprint
from tests.conftest import Tenant
from tests.issues.conftest import Api, activities, outbox
from tests.support.factories import BASE_TIME, Ev


def test_foreign_issues_are_invisible_and_untouchable(
    api: Api, other_api: Api, make, db: Database, other_tenant: Tenant
) -> None:
    theirs = make(
        project_id=other_tenant.project.id,
        name="Secret",
        fingerprints=["shared-fp", "their-fp"],
        events=[Ev(BASE_TIME, "them")],
    )
    mine = make(name="Mine", fingerprints=["my-fp"])
    other_api.patch(f"issues/{theirs.id}/", json={"name": "Secret"})  # gives them an activity entry

    assert [i["name"] for i in api.get("issues/").json()["results"]] == ["Mine"]
    assert api.get("issues/", params={"search": "Secret"}).json()["count"] == 0
    assert api.get("issues/values/", params={"key": "name", "value": "Sec"}).json()["results"] == []
    assert api.get("fingerprints/").json()["count"] == 1
    assert api.get("issues/activity/").json()["total_count"] == 0

    base = f"issues/{theirs.id}/"
    event_uuid = theirs.event_uuids[0]
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"status": "resolved"}),
        ("PUT", base, {"name": "pwned"}),
        ("POST", f"{base}merge/", {"ids": [str(mine.id)]}),
        ("POST", f"{base}split/", {"fingerprints": [{"fingerprint": "their-fp"}]}),
        ("PATCH", f"{base}assign/", {"assignee": None}),
        ("PUT", f"{base}cohort/", {"cohortId": 1}),
        ("GET", f"{base}activity/", None),
        ("GET", f"{base}events/", None),
        ("GET", f"{base}events/{event_uuid}/", None),
        ("GET", f"issues/{mine.id}/events/{event_uuid}/", None),
    ]:
        response = api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)

    fingerprint_id = other_api.get("fingerprints/").json()["results"][0]["id"]
    assert api.get(f"fingerprints/{fingerprint_id}/").status_code == 404
    assert api.get("fingerprints/resolve/", params={"fingerprint": "shared-fp"}).status_code == 404
    assert api.get("fingerprints/", params={"issue_id": str(theirs.id)}).json()["count"] == 0
    # Their fingerprint never redirects our caller to their issue.
    assert api.get(f"issues/{mine.id}/", params={"fingerprint": "shared-fp"}).status_code == 200

    # Merging their issue into ours is a silent no-op (ignored like a ghost id).
    assert api.post(f"issues/{mine.id}/merge/", json={"ids": [str(theirs.id)]}).json() == {"success": False}
    with db.read() as session:
        owner = session.execute(
            sa.select(IssueFingerprint.issue_id).where(IssueFingerprint.fingerprint == "shared-fp")
        ).scalar_one()
        status, name = session.execute(sa.select(Issue.status, Issue.name).where(Issue.id == theirs.id)).one()
    assert owner == theirs.id and (status, name) == ("active", "Secret")
    assert other_api.get(f"issues/{theirs.id}/events/").json()["count"] == 1


def test_bulk_ignores_foreign_ids(
    api: Api, other_api: Api, make, db: Database, seed: Tenant, other_tenant: Tenant
) -> None:
    theirs = make(project_id=other_tenant.project.id, name="Theirs")
    mine = make(name="Mine")
    ids = [str(theirs.id), str(mine.id)]
    assert api.post("issues/bulk/", json={"action": "set_status", "status": "resolved", "ids": ids}).status_code == 200
    assignee = {"type": "user", "id": seed.user.id}
    assert api.post("issues/bulk/", json={"action": "assign", "assignee": assignee, "ids": ids}).status_code == 200
    assert api.post("issues/bulk/", json={"action": "merge", "ids": ids}).json() == {"success": False}

    untouched = other_api.get(f"issues/{theirs.id}/").json()
    assert untouched["status"] == "active" and untouched["assignee"] is None
    mine_now = api.get(f"issues/{mine.id}/").json()
    assert mine_now["status"] == "resolved" and mine_now["assignee"] == {"id": seed.user.id, "type": "user"}
    assert activities(db, theirs.id) == [] and outbox(db, theirs.id) == []


def test_their_project_url_is_404(api: Api, client, other_tenant: Tenant, make) -> None:
    make(project_id=other_tenant.project.id)
    their_base = f"/api/environments/{other_tenant.project.id}/error_tracking"
    for path in ("issues/", "fingerprints/", "stack_frames/", "releases/", "issues/activity/"):
        assert client.get(f"{their_base}/{path}", headers=api.tenant.headers).status_code == 404, path
    response = client.post(
        f"{their_base}/issues/bulk/", headers=api.tenant.headers, json={"action": "set_status", "ids": []}
    )
    assert response.status_code == 404
