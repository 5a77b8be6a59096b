"""Merge (spec §6.2) and split (§6.3): fingerprints, events, aggregates, assignees, activity and lifecycle events."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.issues import aggregates
from faultline.issues.models import Issue, IssueFingerprint
from tests.conftest import Tenant
from tests.issues.conftest import Api, activities, outbox
from tests.support.factories import BASE_TIME, Ev, aggregate_snapshot


def at(minutes: int) -> dt.datetime:
    return BASE_TIME + dt.timedelta(minutes=minutes)


def versions(db: Database) -> dict[str, tuple[str, int]]:
    with db.read() as session:
        rows = session.execute(
            sa.select(IssueFingerprint.fingerprint, IssueFingerprint.issue_id, IssueFingerprint.version)
        ).all()
    return {fp: (str(issue_id), version) for fp, issue_id, version in rows}


def event_ids(api: Api, issue_id: object) -> set[str]:
    page = api.get(f"issues/{issue_id}/events/", params={"limit": 1000}).json()
    return {event["id"] for event in page["results"]}


def test_merge_moves_events_fingerprints_and_aggregates(api: Api, make, db: Database, seed: Tenant) -> None:
    target = make(name="Target", fingerprints=["fp-t"], events=[Ev(at(0), "u1"), Ev(at(61), "u2")])
    source_a = make(name="A", fingerprints=["fp-a1", "fp-a2"], events=[Ev(at(5), "u2"), Ev(at(200), "u3")])
    source_b = make(name="B", fingerprints=["fp-b"], events=[Ev(at(-30), "u4"), Ev(at(6), None)])
    before = {b.id: event_ids(api, b.id) for b in (target, source_a, source_b)}

    response = api.post(f"issues/{target.id}/merge/", json={"ids": [str(source_a.id), str(source_b.id)]})
    assert response.json() == {"success": True}

    # Every event ingested before the merge is listed under the surviving issue.
    assert event_ids(api, target.id) == set().union(*before.values())
    for gone in (source_a, source_b):
        assert api.get(f"issues/{gone.id}/").status_code == 404
        # Links built from a merged issue's fingerprint now answer 308 → the survivor.
        moved = api.get(f"issues/{gone.id}/", params={"fingerprint": gone.fingerprints[0]})
        assert moved.status_code == 308 and moved.json() == {"issue_id": str(target.id)}
    resolved = api.get("fingerprints/resolve/", params={"fingerprint": "fp-a2"}).json()
    assert resolved["issue_id"] == str(target.id) and resolved["version"] == 1
    assert versions(db) == {
        "fp-t": (str(target.id), 0),
        "fp-a1": (str(target.id), 1),
        "fp-a2": (str(target.id), 1),
        "fp-b": (str(target.id), 1),
    }

    detail = api.get(f"issues/{target.id}/").json()
    assert detail["name"] == "Target" and detail["state_updated_at"] is not None
    assert detail["aggregates"]["occurrences"] == 6 and detail["aggregates"]["users"] == 4
    assert detail["first_seen"] == "2026-03-02T12:00:00Z" and detail["last_seen"] == "2026-03-02T15:50:00Z"

    # The cheap combination equals a full re-derivation from the moved events.
    with db.write() as session:
        combined = aggregate_snapshot(session, target.id)
        aggregates.recompute(session, [target.id])
        assert aggregate_snapshot(session, target.id) == combined
        assert combined["hourly"][at(0).replace(minute=0)] == 4  # 12:30, 12:35, 12:36 and 12:00 share an hour
        search = session.execute(sa.select(Issue.exception_types).where(Issue.id == target.id)).scalar_one()
        assert search.split("\n") == ["Target", "A", "B"]

    [entry] = activities(db, target.id)
    assert entry.activity == "merged" and entry.user_id == seed.user.id
    [change] = entry.detail["changes"]
    assert change["field"] == "merged_issue_ids" and change["action"] == "merged"
    assert sorted(change["after"]) == sorted([str(source_a.id), str(source_b.id)])
    [note] = outbox(db, target.id)
    assert note.event == "$error_tracking_issue_merged"
    assert sorted(note.properties["merged_issue_ids"]) == sorted(change["after"])
    assert note.properties["name"] == "Target"


def test_search_finds_merged_types(api: Api, make) -> None:
    target = make(name="Target", exception_types=["TypeError"])
    source = make(name="Other", exception_types=["ZeroDivisionError"], exception_values=["division by zero"])
    api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]})
    found = api.get("issues/", params={"search": "division"}).json()["results"]
    assert [item["id"] for item in found] == [str(target.id)]


def test_chained_merges_keep_bumping_versions(api: Api, make, db: Database) -> None:
    a, b, c, d = (make(fingerprints=[f"fp-{n}"]) for n in "abcd")
    assert api.post(f"issues/{b.id}/merge/", json={"ids": [str(a.id)]}).json() == {"success": True}
    assert api.post(f"issues/{c.id}/merge/", json={"ids": [str(b.id)]}).json() == {"success": True}
    assert api.post(f"issues/{d.id}/merge/", json={"ids": [str(c.id)]}).json() == {"success": True}
    assert versions(db) == {
        "fp-a": (str(d.id), 3),
        "fp-b": (str(d.id), 2),
        "fp-c": (str(d.id), 1),
        "fp-d": (str(d.id), 0),
    }
    listed = api.get("fingerprints/", params={"issue_id": str(d.id)}).json()
    assert {f["fingerprint"]: f["version"] for f in listed["results"]} == {"fp-a": 3, "fp-b": 2, "fp-c": 1, "fp-d": 0}
    for merged in (a, b, c):
        assert api.get(f"issues/{merged.id}/", params={"fingerprint": "fp-a"}).json() == {"issue_id": str(d.id)}


def test_assignee_adoption(api: Api, make, db: Database, seed: Tenant) -> None:
    with db.write() as session:
        org = session.merge(seed.organization)
        alice = accounts.create_user(session, "alice@acme.test", organization=org)
        role = accounts.create_role(session, org, "Payments")
        alice_id, role_id = alice.id, role.id

    def assign(issue, assignee) -> None:
        assert api.patch(f"issues/{issue.id}/assign/", json={"assignee": assignee}).status_code == 200

    me = {"type": "user", "id": seed.user.id}
    her = {"type": "user", "id": alice_id}
    team = {"type": "role", "id": str(role_id)}

    # Target wins over its sources.
    target, source = make(), make()
    assign(target, me)
    assign(source, her)
    api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]})
    assert api.get(f"issues/{target.id}/").json()["assignee"] == {"id": seed.user.id, "type": "user"}

    # Unassigned target adopts the one assignee its sources agree on (unassigned sources do not count).
    target, s1, s2, s3 = make(), make(), make(), make()
    assign(s1, team)
    assign(s2, team)
    api.post(f"issues/{target.id}/merge/", json={"ids": [str(s1.id), str(s2.id), str(s3.id)]})
    assert api.get(f"issues/{target.id}/").json()["assignee"] == {"id": str(role_id), "type": "role"}

    # Ambiguous sources: nobody.
    target, s1, s2 = make(), make(), make()
    assign(s1, me)
    assign(s2, her)
    api.post(f"issues/{target.id}/merge/", json={"ids": [str(s1.id), str(s2.id)]})
    assert api.get(f"issues/{target.id}/").json()["assignee"] is None


def test_split_moves_fingerprint_events_and_rederives_aggregates(api: Api, make, db: Database, seed: Tenant) -> None:
    issue = make(
        name="Mixed",
        fingerprints=["fp-1", "fp-2", "fp-3"],
        events=[
            Ev(at(0), "u1", "fp-1"),
            Ev(at(1), "u2", "fp-1"),
            Ev(at(70), "u3", "fp-2"),
            Ev(at(71), "u1", "fp-2"),
            Ev(at(300), "u9", "fp-3"),
        ],
    )
    before = event_ids(api, issue.id)
    response = api.post(
        f"issues/{issue.id}/split/",
        json={
            "fingerprints": [
                {"fingerprint": "fp-2", "name": "Split off", "description": "the fp-2 half"},
                {"fingerprint": "fp-3"},
                {"fingerprint": "fp-not-mine"},
            ]
        },
    )
    body = response.json()
    assert body["success"] is True and len(body["new_issue_ids"]) == 2
    first_new, second_new = body["new_issue_ids"]

    new = api.get(f"issues/{first_new}/").json()
    assert (new["name"], new["description"], new["status"]) == ("Split off", "the fp-2 half", "active")
    assert new["aggregates"]["occurrences"] == 2 and new["aggregates"]["users"] == 2
    assert new["first_seen"] == "2026-03-02T13:40:00Z" and new["last_seen"] == "2026-03-02T13:41:00Z"
    named = api.get(f"issues/{second_new}/").json()  # no name given: named from its events, as the digest would
    assert (named["name"], named["description"]) == ("Mixed", "Cannot read properties of undefined")

    original = api.get(f"issues/{issue.id}/").json()
    assert original["aggregates"]["occurrences"] == 2 and original["aggregates"]["users"] == 2
    assert original["last_seen"] == "2026-03-02T12:31:00Z"
    assert event_ids(api, issue.id) | event_ids(api, first_new) | event_ids(api, second_new) == before
    assert len(event_ids(api, first_new)) == 2

    assert versions(db) == {
        "fp-1": (str(issue.id), 0),
        "fp-2": (first_new, 1),
        "fp-3": (second_new, 1),
    }
    assert api.get(f"issues/{issue.id}/", params={"fingerprint": "fp-2"}).json() == {"issue_id": first_new}

    [entry] = activities(db, issue.id)
    assert entry.activity == "split"
    assert entry.detail["changes"][0]["field"] == "split_issue_ids"
    assert entry.detail["changes"][0]["after"] == [first_new, second_new]
    [note] = outbox(db, issue.id)
    assert note.event == "$error_tracking_issue_split" and note.properties["split_issue_ids"] == [first_new, second_new]

    # Nothing to split: no activity, no event.
    api.post(f"issues/{issue.id}/split/", json={"fingerprints": [{"fingerprint": "fp-2"}]})
    assert len(activities(db, issue.id)) == 1 and len(outbox(db, issue.id)) == 1


def test_merge_after_split_restores_the_issue(api: Api, make, db: Database) -> None:
    issue = make(fingerprints=["fp-1", "fp-2"], events=[Ev(at(0), "u1", "fp-1"), Ev(at(10), "u2", "fp-2")])
    with db.read() as session:
        original = aggregate_snapshot(session, issue.id)
    [new_id] = api.post(f"issues/{issue.id}/split/", json={"fingerprints": [{"fingerprint": "fp-2"}]}).json()[
        "new_issue_ids"
    ]
    api.post(f"issues/{issue.id}/merge/", json={"ids": [new_id]})
    with db.read() as session:
        assert aggregate_snapshot(session, issue.id) == original
    assert versions(db)["fp-2"] == (str(issue.id), 2)
