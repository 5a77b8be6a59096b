"""Contract of `error_tracking/issues` (spec §2.1): shapes, status codes, validation messages and `attr` values."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.issues.models import Issue
from tests.conftest import Tenant, make_tenant
from tests.issues.conftest import Api, activities, error, outbox
from tests.support.factories import BASE_TIME, Ev

READ_KEYS = {
    "id",
    "status",
    "severity",
    "name",
    "description",
    "first_seen",
    "assignee",
    "external_issues",
    "cohort",
}


def test_list_shape_and_pagination(api: Api, make) -> None:
    built = [make(events=[Ev(BASE_TIME + dt.timedelta(minutes=i))]) for i in range(3)]
    body = api.get("issues/", params={"limit": 2}).json()
    assert body["count"] == 3 and body["previous"] is None
    assert body["next"].endswith("limit=2&offset=2")
    assert [item["id"] for item in body["results"]] == [str(built[2].id), str(built[1].id)]
    item = body["results"][0]
    assert set(item) >= READ_KEYS
    assert item["external_issues"] == [] and item["cohort"] is None and item["assignee"] is None
    assert item["first_seen"] == "2026-03-02T12:32:00Z"
    assert item["aggregates"]["occurrences"] == 1 and item["aggregates"]["users"] == 1
    second = api.get("issues/", params={"limit": 2, "offset": 2}).json()
    assert [i["id"] for i in second["results"]] == [str(built[0].id)] and second["next"] is None
    # The older /api/projects/ prefix serves the same resource.
    legacy = Api(api.client, api.tenant, prefix="projects").get("issues").json()
    assert legacy["count"] == 3


def test_retrieve_and_not_found(api: Api, make) -> None:
    built = make(name="ValueError", description="bad value", severity="high")
    body = api.get(f"issues/{built.id}/").json()
    assert body["id"] == str(built.id) and body["name"] == "ValueError" and body["severity"] == "high"
    assert set(body) >= READ_KEYS
    for ghost in (uuid.uuid4(), "not-a-uuid", "1"):
        assert error(api.get(f"issues/{ghost}/")) == (404, "not_found", "Issue not found", None)


def test_retrieve_by_fingerprint_redirects_308_to_the_owner(api: Api, make) -> None:
    owner = make(fingerprints=["fp-owner"])
    other = make(fingerprints=["fp-other"])
    moved = api.get(f"issues/{other.id}/", params={"fingerprint": "fp-owner"})
    assert moved.status_code == 308 and moved.json() == {"issue_id": str(owner.id)}
    assert "location" not in moved.headers
    # Checked before existence: a deleted (merged) issue's link still finds the survivor.
    ghost = api.get(f"issues/{uuid.uuid4()}/", params={"fingerprint": "fp-owner"})
    assert ghost.status_code == 308 and ghost.json() == {"issue_id": str(owner.id)}
    # Its own fingerprint, or one nobody owns: the issue itself.
    assert api.get(f"issues/{owner.id}/", params={"fingerprint": "fp-owner"}).status_code == 200
    assert api.get(f"issues/{owner.id}/", params={"fingerprint": "fp-unknown"}).status_code == 200
    assert api.get(f"issues/{owner.id}/", params={"fingerprint": "x\x00y"}).status_code == 200


def test_update_status_logs_activity_and_emits_lifecycle_event(api: Api, make, db: Database, seed: Tenant) -> None:
    built = make(fingerprints=["fp-a", "fp-b"])
    response = api.patch(f"issues/{built.id}/", json={"status": "resolved"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved" and body["state_updated_at"] is not None
    [entry] = activities(db, built.id)
    assert entry.activity == "updated" and entry.user_id == seed.user.id
    assert entry.detail["changes"] == [
        {"type": "ErrorTrackingIssue", "action": "changed", "field": "status", "before": "active", "after": "resolved"}
    ]
    [note] = outbox(db, built.id)
    assert note.event == "$error_tracking_issue_resolved"
    assert note.properties["status"] == "Resolved" and note.properties["previous_status"] == "Active"
    assert note.properties["fingerprint"] == "fp-a" and note.properties["name"] == "TypeError"
    assert note.person == {
        "id": seed.user.id,
        "distinct_id": seed.user.distinct_id,
        "email": seed.user.email,
        "first_name": seed.user.first_name,
    }

    # PUT is the same operation; every writable status has its event.
    assert api.put(f"issues/{built.id}/", json={"status": "suppressed"}).json()["status"] == "suppressed"
    assert api.put(f"issues/{built.id}/", json={"status": "active"}).json()["status"] == "active"
    assert [n.event for n in outbox(db, built.id)] == [
        "$error_tracking_issue_resolved",
        "$error_tracking_issue_suppressed",
        "$error_tracking_issue_reopened",
    ]


def test_update_rejects_legacy_and_unknown_values(api: Api, make) -> None:
    built = make()
    for legacy in ("archived", "pending_release", "bogus"):
        assert error(api.patch(f"issues/{built.id}/", json={"status": legacy})) == (
            400,
            "invalid_choice",
            f'"{legacy}" is not a valid choice.',
            "status",
        )
    assert error(api.patch(f"issues/{built.id}/", json={"status": None})) == (
        400,
        "null",
        "This field may not be null.",
        "status",
    )
    assert error(api.patch(f"issues/{built.id}/", json={"severity": "urgent"}))[3] == "severity"
    assert error(api.patch(f"issues/{built.id}/", json={"name": 12}))[3] == "name"
    assert error(api.patch(f"issues/{uuid.uuid4()}/", json={"status": "resolved"}))[:3] == (
        404,
        "not_found",
        "Issue not found",
    )
    assert api.get(f"issues/{built.id}/").json()["status"] == "active"


def test_update_fields_and_what_gets_logged(api: Api, make, db: Database) -> None:
    built = make(name="Old", description="old text")
    body = api.patch(
        f"issues/{built.id}/", json={"severity": "critical", "name": "New", "description": "", "ignored": 1}
    ).json()
    assert (body["severity"], body["name"], body["description"]) == ("critical", "New", "")
    [entry] = activities(db, built.id)
    assert [c["field"] for c in entry.detail["changes"]] == ["severity", "name"]
    assert outbox(db, built.id) == []  # only status changes are announced

    # Description-only changes stamp the watermark but are not logged (PostHog).
    stamp = body["state_updated_at"]
    again = api.patch(f"issues/{built.id}/", json={"description": "described"}).json()
    assert again["state_updated_at"] >= stamp and len(activities(db, built.id)) == 1

    # A PATCH that changes nothing touches nothing.
    unchanged = api.patch(f"issues/{built.id}/", json={"severity": "critical", "name": "New"}).json()
    assert unchanged["state_updated_at"] == again["state_updated_at"] and len(activities(db, built.id)) == 1
    # Null clears severity; NUL characters are stored as U+FFFD rather than failing.
    cleared = api.patch(f"issues/{built.id}/", json={"severity": None, "name": "a\x00b"}).json()
    assert cleared["severity"] is None and cleared["name"] == "a\ufffdb"
    # An empty body is a no-op update.
    assert api.patch(f"issues/{built.id}/").status_code == 200


def test_delete_is_405_after_auth(api: Api, make, client: TestClient, db: Database, seed: Tenant) -> None:
    built = make()
    assert error(api.delete(f"issues/{built.id}/")) == (405, "method_not_allowed", 'Method "DELETE" not allowed.', None)
    assert api.get(f"issues/{built.id}/").status_code == 200
    reader = make_tenant(db, email="reader@acme.test", scopes=["error_tracking:read"])
    with db.write() as session:
        org = session.merge(seed.organization)
        accounts.add_member(session, org, session.merge(reader.user))
    read_only = Api(client, Tenant(seed.organization, seed.project, reader.user, reader.api_key))
    assert read_only.delete(f"issues/{built.id}/").status_code == 403
    assert read_only.patch(f"issues/{built.id}/", json={"status": "resolved"}).status_code == 403
    assert read_only.get(f"issues/{built.id}/").status_code == 200
    assert client.get(f"{api.base}/issues/").status_code == 401


def test_exists_and_values(api: Api, make) -> None:
    assert api.get("issues/exists/").json() == {"exists": False}
    make(name="TypeError", description="x is undefined")
    make(name="TypeError", description="y is undefined")
    make(name="RangeError", description="too deep")
    assert api.get("issues/exists").json() == {"exists": True}
    names = api.get("issues/values/", params={"key": "name", "value": "error"}).json()
    assert sorted(r["name"] for r in names["results"]) == ["RangeError", "TypeError"]
    assert names["refreshing"] is False
    descriptions = api.get("issues/values/", params={"key": "issue_description", "value": "UNDEFINED"}).json()
    assert sorted(r["name"] for r in descriptions["results"]) == ["x is undefined", "y is undefined"]
    assert api.get("issues/values/", params={"key": "status", "value": "a"}).json()["results"] == []
    assert api.get("issues/values/", params={"key": "name"}).json()["results"] == []
    # LIKE wildcards in the value are literal characters.
    assert api.get("issues/values/", params={"key": "name", "value": "%"}).json()["results"] == []


def test_cohort_endpoint(api: Api, make) -> None:
    built = make()
    assert error(api.put(f"issues/{built.id}/cohort/", json={})) == (
        400,
        "invalid_input",
        "Please provide a cohort id",
        None,
    )
    assert error(api.put(f"issues/{uuid.uuid4()}/cohort/", json={"cohortId": 5}))[:3] == (
        404,
        "not_found",
        "Issue not found",
    )
    assert error(api.put(f"issues/{built.id}/cohort/", json={"cohortId": 5}))[:3] == (
        404,
        "not_found",
        "Cohort not found",
    )


def test_activity_endpoints(api: Api, make, client: TestClient, db: Database, seed: Tenant) -> None:
    first, second = make(), make()
    for status in ("resolved", "active", "suppressed"):
        api.patch(f"issues/{first.id}/", json={"status": status})
    api.patch(f"issues/{second.id}/", json={"name": "Renamed"})

    page = api.get(f"issues/{first.id}/activity/", params={"limit": 2}).json()
    assert page["total_count"] == 3 and page["previous"] is None and "page=2" in page["next"]
    newest = page["results"][0]
    assert newest["activity"] == "updated" and newest["scope"] == "ErrorTrackingIssue"
    assert newest["item_id"] == str(first.id)
    assert newest["detail"]["changes"][0]["after"] == "suppressed"
    assert newest["user"] == {"id": seed.user.id, "first_name": "", "email": seed.user.email, "is_system": False}
    last = api.get(f"issues/{first.id}/activity/", params={"limit": 2, "page": 2}).json()
    assert len(last["results"]) == 1 and last["next"] is None and "page=1" in last["previous"]

    everything = api.get("issues/activity/").json()
    assert everything["total_count"] == 4
    assert {r["item_id"] for r in everything["results"]} == {str(first.id), str(second.id)}

    assert error(api.get(f"issues/{uuid.uuid4()}/activity/"))[0] == 404
    assert error(api.get("issues/activity/", params={"limit": 0})) == (
        400,
        "min_value",
        "Ensure this value is greater than or equal to 1.",
        "limit",
    )
    assert error(api.get("issues/activity/", params={"page": "x"}))[3] == "page"

    no_activity_scope = make_tenant(db, email="noact@acme.test", scopes=["error_tracking:write"])
    with db.write() as session:
        accounts.add_member(session, session.merge(seed.organization), session.merge(no_activity_scope.user))
    limited = Api(client, Tenant(seed.organization, seed.project, no_activity_scope.user, no_activity_scope.api_key))
    assert limited.get("issues/activity/").status_code == 403
    assert limited.get(f"issues/{first.id}/activity/").status_code == 403


def test_system_activity_is_rendered_as_system(api: Api, make, db: Database, seed: Tenant) -> None:
    from faultline.issues import lifecycle

    built = make()
    with db.write() as session:
        lifecycle.record_activity(
            session, project_id=seed.project.id, issue_id=built.id, activity="reopened", user_id=None, name="x"
        )
    [entry] = api.get(f"issues/{built.id}/activity/").json()["results"]
    assert entry["user"] == {"id": None, "first_name": "System", "email": None, "is_system": True}


def test_issue_events_newest_first_paginated_and_single_event(api: Api, make) -> None:
    built = make(
        fingerprints=["fp-1", "fp-2"],
        events=[
            Ev(BASE_TIME + dt.timedelta(minutes=i), distinct_id=f"u{i}", fingerprint="fp-1" if i % 2 else "fp-2")
            for i in range(5)
        ],
    )
    page = api.get(f"issues/{built.id}/events/", params={"limit": 2}).json()
    assert page["count"] == 5 and page["next"] is not None
    assert [e["distinct_id"] for e in page["results"]] == ["u4", "u3"]
    event = page["results"][0]
    assert event["event"] == "$exception" and event["issue_id"] == str(built.id)
    assert event["properties"]["$exception_types"] == ["TypeError"]
    assert event["timestamp"] == "2026-03-02T12:34:00Z"
    only = api.get(f"issues/{built.id}/events/", params={"fingerprint": "fp-1"}).json()
    assert [e["distinct_id"] for e in only["results"]] == ["u3", "u1"]

    single = api.get(f"issues/{built.id}/events/{event['id']}/")
    assert single.status_code == 200 and single.json() == event
    other = make(events=[Ev(BASE_TIME)])
    assert error(api.get(f"issues/{other.id}/events/{event['id']}/"))[:3] == (404, "not_found", "Event not found")
    assert error(api.get(f"issues/{built.id}/events/nope/"))[0] == 404
    assert error(api.get(f"issues/{uuid.uuid4()}/events/"))[:3] == (404, "not_found", "Issue not found")


def test_merge_validation(api: Api, make) -> None:
    target, source = make(), make()
    assert error(api.post(f"issues/{target.id}/merge/", json={"ids": []})) == (
        400,
        "empty",
        "This list may not be empty.",
        "ids",
    )
    assert error(api.post(f"issues/{target.id}/merge/", json={})) == (
        400,
        "required",
        "This field is required.",
        "ids",
    )
    assert error(api.post(f"issues/{target.id}/merge/")) == (400, "required", "This field is required.", "ids")
    assert error(api.post(f"issues/{target.id}/merge/", json={"ids": ["nope"]})) == (
        400,
        "invalid_input",
        "Must be a valid UUID.",
        "ids__0",
    )
    assert error(api.post(f"issues/{uuid.uuid4()}/merge/", json={"ids": [str(source.id)]}))[:3] == (
        404,
        "not_found",
        "Issue not found",
    )
    # Only itself or ghosts: nothing merged.
    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(target.id)]}).json() == {"success": False}
    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(uuid.uuid4())]}).json() == {"success": False}
    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]}).json() == {"success": True}


def test_split_validation(api: Api, make) -> None:
    built = make(fingerprints=["fp-keep"])
    assert api.post(f"issues/{built.id}/split/", json={}).json() == {"success": True, "new_issue_ids": []}
    assert api.post(f"issues/{built.id}/split/", json={"fingerprints": [{"fingerprint": "fp-not-mine"}]}).json() == {
        "success": True,
        "new_issue_ids": [],
    }
    assert error(api.post(f"issues/{built.id}/split/", json={"fingerprints": [{"fingerprint": " "}]})) == (
        400,
        "blank",
        "This field may not be blank.",
        "fingerprints__0__fingerprint",
    )
    assert error(api.post(f"issues/{built.id}/split/", json={"fingerprints": [{}]}))[3] == (
        "fingerprints__0__fingerprint"
    )
    assert error(api.post(f"issues/{uuid.uuid4()}/split/", json={"fingerprints": []}))[0] == 404


def test_assign_validation_messages(api: Api, make, db: Database, seed: Tenant, other_tenant: Tenant) -> None:
    built = make()
    url = f"issues/{built.id}/assign/"
    cases = [
        ({"type": "user", "id": "abc"}, ("invalid_input", "Provide a numeric user ID.", "assignee__id")),
        ({"type": "role", "id": "nope"}, ("invalid_input", "Provide a valid role UUID.", "assignee__id")),
        ({"type": "role", "id": 5}, ("invalid_input", "Provide a valid role UUID.", "assignee__id")),
        ({"type": "group", "id": 1}, ("invalid_choice", '"group" is not a valid choice.', "assignee__type")),
        ({"type": "user", "id": True}, ("invalid_input", "Expected a user ID or role UUID.", "assignee__id")),
        ({"type": "user", "id": [1]}, ("invalid_input", "Expected a user ID or role UUID.", "assignee__id")),
        ({"type": "user"}, ("required", "This field is required.", "assignee__id")),
        ({"id": 1}, ("required", "This field is required.", "assignee__type")),
    ]
    for assignee, expected in cases:
        assert error(api.patch(url, json={"assignee": assignee}))[1:] == expected, assignee

    with db.write() as session:
        foreign_role = accounts.create_role(session, session.merge(other_tenant.organization), "Globex SRE")
    for assignee, detail in (
        ({"type": "user", "id": other_tenant.user.id}, "Assignee user does not belong to this organization."),
        ({"type": "user", "id": 10**30}, "Assignee user does not belong to this organization."),
        ({"type": "role", "id": str(foreign_role.id)}, "Assignee role does not belong to this organization."),
        ({"type": "role", "id": str(uuid.uuid4())}, "Assignee role does not belong to this organization."),
    ):
        assert error(api.patch(url, json={"assignee": assignee})) == (400, "invalid_input", detail, None)
    assert error(api.patch(f"issues/{uuid.uuid4()}/assign/", json={"assignee": None}))[0] == 404
    assert api.get(f"issues/{built.id}/").json()["assignee"] is None


def test_assign_user_role_unassign_and_noop(api: Api, make, db: Database, seed: Tenant) -> None:
    built = make()
    url = f"issues/{built.id}/assign/"
    with db.write() as session:
        role = accounts.create_role(session, session.merge(seed.organization), "Frontend")
    assert api.patch(url, json={"assignee": {"type": "user", "id": str(seed.user.id)}}).json() == {"success": True}
    detail = api.get(f"issues/{built.id}/").json()
    assert detail["assignee"] == {"id": seed.user.id, "type": "user"}
    stamp = detail["state_updated_at"]
    assert stamp is not None

    # Same assignee again: success, but no activity and no event.
    assert api.patch(url, json={"assignee": {"type": "user", "id": seed.user.id}}).json() == {"success": True}
    assert len(activities(db, built.id)) == 1 and len(outbox(db, built.id)) == 1

    assert api.patch(url, json={"assignee": {"type": "role", "id": str(role.id)}}).status_code == 200
    assert api.get(f"issues/{built.id}/").json()["assignee"] == {"id": str(role.id), "type": "role"}
    assert api.patch(url, json={"assignee": None}).status_code == 200
    assert api.get(f"issues/{built.id}/").json()["assignee"] is None
    assert api.patch(url).status_code == 200  # omitted = unassign; already unassigned = no-op

    entries = activities(db, built.id)
    assert [e.activity for e in entries] == ["assigned", "assigned", "assigned"]
    assert [(c["before"], c["after"]) for e in entries for c in e.detail["changes"]] == [
        (None, {"id": seed.user.id, "type": "user"}),
        ({"id": seed.user.id, "type": "user"}, {"id": str(role.id), "type": "role"}),
        ({"id": str(role.id), "type": "role"}, None),
    ]
    notes = outbox(db, built.id)
    assert [n.event for n in notes] == [
        "$error_tracking_issue_assigned",
        "$error_tracking_issue_assigned",
        "$error_tracking_issue_unassigned",
    ]
    assert notes[0].properties["assignee"] == f'{{"id":{seed.user.id},"type":"user"}}'
    assert notes[2].properties["previous_assignee"] == f'{{"id":"{role.id}","type":"role"}}'
    assert notes[2].properties["assignee"] is None


def test_bulk_validation_and_status(api: Api, make, db: Database) -> None:
    a, b, c = make(), make(status="resolved"), make()
    assert error(api.post("issues/bulk/", json={"action": "set_status", "ids": [str(a.id)], "status": "archived"})) == (
        400,
        "invalid_input",
        "Invalid status",
        None,
    )
    assert error(api.post("issues/bulk/", json={"action": "set_status", "ids": [str(a.id)]}))[2] == "Invalid status"
    assert error(api.post("issues/bulk/", json={"action": "explode", "ids": []}))[1:] == (
        "invalid_choice",
        '"explode" is not a valid choice.',
        "action",
    )
    assert error(api.post("issues/bulk/", json={"ids": []}))[3] == "action"
    response = api.post(
        "issues/bulk/",
        json={"action": "set_status", "status": "resolved", "ids": [str(a.id), str(b.id), "junk", str(uuid.uuid4())]},
    )
    assert response.json() == {"success": True}
    with db.read() as session:
        statuses = dict(session.execute(sa.select(Issue.id, Issue.status)).all())
    assert statuses == {a.id: "resolved", b.id: "resolved", c.id: "active"}
    # b was already resolved: skipped, so one activity entry and one event in total.
    assert [e.item_id for e in activities(db)] == [str(a.id)]
    assert [n.event for n in outbox(db)] == ["$error_tracking_issue_resolved"]


def test_bulk_assign_and_merge(api: Api, make, db: Database, seed: Tenant) -> None:
    a, b, c = make(), make(), make()
    ids = [str(a.id), str(b.id)]
    assignee = {"type": "user", "id": seed.user.id}
    assert api.post("issues/bulk/", json={"action": "assign", "ids": ids, "assignee": assignee}).json() == {
        "success": True
    }
    assert {api.get(f"issues/{i}/").json()["assignee"]["id"] for i in ids} == {seed.user.id}
    assert [n.event for n in outbox(db)] == ["$error_tracking_issue_assigned"] * 2
    assert {e.item_id for e in activities(db) if e.activity == "assigned"} == set(ids)
    assert error(
        api.post("issues/bulk/", json={"action": "assign", "ids": ids, "assignee": {"type": "user", "id": "x"}})
    )[3] == ("assignee__id")
    assert api.post("issues/bulk/", json={"action": "assign", "ids": ids, "assignee": None}).status_code == 200
    assert api.get(f"issues/{a.id}/").json()["assignee"] is None

    merged = api.post("issues/bulk/", json={"action": "merge", "ids": [str(c.id), str(a.id), str(b.id)]})
    assert merged.json() == {"success": True}
    assert [n.event for n in outbox(db, c.id)] == ["$error_tracking_issue_merged"]
    assert sorted(outbox(db, c.id)[0].properties["merged_issue_ids"]) == sorted(ids)
    assert api.get(f"issues/{c.id}/").status_code == 200
    assert api.get(f"issues/{a.id}/").status_code == 404 and api.get(f"issues/{b.id}/").status_code == 404
    assert api.post("issues/bulk/", json={"action": "merge", "ids": [str(c.id)]}).json() == {"success": False}
