"""Issue list filters, sort orders, aggregates and sparkline volumes."""

from __future__ import annotations

import datetime as dt

from faultline.accounts import service as accounts
from faultline.db import Database, utcnow
from tests.conftest import Tenant
from tests.issues.conftest import Api, error
from tests.support.clock import mid_hour
from tests.support.factories import BASE_TIME, Ev


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["results"]]


def minutes(n: int) -> dt.datetime:
    return BASE_TIME + dt.timedelta(minutes=n)


def test_orders_and_directions(api: Api, make) -> None:
    # name: (first_seen offset, last_seen offset, events, distinct users)
    make(name="A", events=[Ev(minutes(0), "u1"), Ev(minutes(50), "u1")])
    make(name="B", events=[Ev(minutes(10), f"u{i}") for i in range(3)] + [Ev(minutes(20), "u1")])
    make(name="C", events=[Ev(minutes(30), "u1"), Ev(minutes(31), "u2"), Ev(minutes(40), "u2")])
    make(name="D", created_at=minutes(-10))  # no events yet: never seen, sorts last
    assert names(api.get("issues/")) == ["A", "C", "B", "D"]
    assert names(api.get("issues/", params={"order_by": "last_seen", "order_direction": "ASC"})) == [
        "D",
        "B",
        "C",
        "A",
    ]
    assert names(api.get("issues/", params={"order_by": "first_seen"}))[:3] == ["C", "B", "A"]
    assert names(api.get("issues/", params={"order_by": "occurrences"})) == ["B", "C", "A", "D"]
    assert names(api.get("issues/", params={"order_by": "users"})) == ["B", "C", "A", "D"]
    assert names(api.get("issues/", params={"order_by": "+occurrences"})) == ["D", "A", "C", "B"]
    assert names(api.get("issues/", params={"order_by": "-occurrences"})) == ["B", "C", "A", "D"]
    assert error(api.get("issues/", params={"order_by": "name"})) == (
        400,
        "invalid_choice",
        '"name" is not a valid choice.',
        "order_by",
    )
    assert error(api.get("issues/", params={"order_direction": "sideways"}))[3] == "order_direction"


def test_aggregates_in_list_and_detail(api: Api, make) -> None:
    built = make(events=[Ev(minutes(0), "u1"), Ev(minutes(5), "u2"), Ev(minutes(90), "u1"), Ev(minutes(91), None)])
    [item] = api.get("issues/").json()["results"]
    assert item["aggregates"] | {"volume_24h": None, "volume_14d": None} == {
        "occurrences": 4,
        "users": 2,
        "first_seen": "2026-03-02T12:30:00Z",
        "last_seen": "2026-03-02T14:01:00Z",
        "volume_24h": None,
        "volume_14d": None,
    }
    assert item["first_seen"] == "2026-03-02T12:30:00Z" and item["last_seen"] == "2026-03-02T14:01:00Z"
    detail = api.get(f"issues/{built.id}/").json()
    assert detail["aggregates"] == item["aggregates"]


def test_volume_series_for_sparklines(api: Api, make) -> None:
    with mid_hour() as now:
        hour = now.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        events = [
            Ev(now),  # this hour, today
            Ev(hour - dt.timedelta(hours=1, minutes=-1)),  # previous hour
            Ev(hour - dt.timedelta(hours=1, minutes=-2)),
            Ev(hour - dt.timedelta(hours=23)),  # the oldest hour still in the 24 h window
            Ev(hour - dt.timedelta(hours=24)),  # just outside it
            Ev(day - dt.timedelta(days=13)),  # the oldest day of the 14 d window
            Ev(day - dt.timedelta(days=14)),  # outside
        ]
        built = make(events=events)
        aggregates = api.get(f"issues/{built.id}/").json()["aggregates"]
    hourly, daily = aggregates["volume_24h"], aggregates["volume_14d"]
    assert len(hourly) == 24 and len(daily) == 14
    assert hourly[-1] == 1 and hourly[-2] == 2 and hourly[0] == 1 and sum(hourly) == 4
    assert daily[0] == 1 and sum(daily) == 6
    assert aggregates["occurrences"] == 7


def test_status_severity_and_search_filters(api: Api, make) -> None:
    make(name="TypeError", description="x is undefined", status="active", severity="high")
    make(
        name="Checkout failed",
        description="payment",
        status="resolved",
        exception_types=["StripeError"],
        exception_values=["card declined: 100% sure"],
    )
    make(name="KeyError", description="'user_id'", status="suppressed", severity="low")
    make(name="Legacy", description=None, status="archived")
    assert sorted(names(api.get("issues/", params={"status": "active"}))) == ["TypeError"]
    assert sorted(names(api.get("issues/", params={"status": "resolved,suppressed"}))) == [
        "Checkout failed",
        "KeyError",
    ]
    assert len(names(api.get("issues/", params={"status": "all"}))) == 4
    assert names(api.get("issues/", params={"status": "archived"})) == ["Legacy"]
    assert error(api.get("issues/", params={"status": "open"})) == (
        400,
        "invalid_choice",
        '"open" is not a valid choice.',
        "status",
    )
    assert sorted(names(api.get("issues/", params={"severity": "high,low"}))) == ["KeyError", "TypeError"]
    assert error(api.get("issues/", params={"severity": "meh"}))[3] == "severity"

    # Search covers name, description, exception type and exception message, case-insensitively.
    assert names(api.get("issues/", params={"search": "typeerror"})) == ["TypeError"]
    assert names(api.get("issues/", params={"search": "UNDEFINED"})) == ["TypeError"]
    assert names(api.get("issues/", params={"search": "stripe"})) == ["Checkout failed"]
    assert names(api.get("issues/", params={"search": "declined"})) == ["Checkout failed"]
    # LIKE metacharacters are literal.
    assert names(api.get("issues/", params={"search": "100%"})) == ["Checkout failed"]
    assert names(api.get("issues/", params={"search": "user_id"})) == ["KeyError"]
    assert names(api.get("issues/", params={"search": "_"})) == ["KeyError"]
    assert names(api.get("issues/", params={"search": "%"})) == ["Checkout failed"]
    assert names(api.get("issues/", params={"search": "a\x00b"})) == []
    assert error(api.get("issues/", params={"search": "x" * 201}))[1:] == (
        "max_length",
        "Ensure this field has no more than 200 characters.",
        "search",
    )
    response = api.get("issues/", params={"search": "error", "status": "active"})
    assert names(response) == ["TypeError"] and response.json()["count"] == 1


def test_seen_ranges(api: Api, make) -> None:
    make(name="old", events=[Ev(minutes(0)), Ev(minutes(10))])
    make(name="mid", events=[Ev(minutes(100)), Ev(minutes(200))])
    make(name="new", events=[Ev(minutes(300))])
    iso = lambda n: minutes(n).isoformat()  # noqa: E731
    assert sorted(names(api.get("issues/", params={"first_seen_after": iso(50)}))) == ["mid", "new"]
    assert names(api.get("issues/", params={"first_seen_before": iso(50)})) == ["old"]
    assert names(api.get("issues/", params={"last_seen_after": iso(250)})) == ["new"]
    assert names(api.get("issues/", params={"last_seen_before": iso(150)})) == ["old"]
    # Activity overlapping a window: mid spans 100–200, so a window inside it finds it.
    assert names(api.get("issues/", params={"date_from": iso(140), "date_to": iso(160)})) == ["mid"]
    # Naive datetimes are UTC; dates work; "Z" works.
    assert names(api.get("issues/", params={"first_seen_after": "2026-03-02T17:00:00"})) == ["new"]
    assert names(api.get("issues/", params={"last_seen_after": "2026-03-02T17:00:00Z"})) == ["new"]
    assert len(names(api.get("issues/", params={"first_seen_after": "2026-03-02"}))) == 3
    assert error(api.get("issues/", params={"first_seen_after": "yesterday"}))[::3] == (400, "first_seen_after")
    # The edges of the calendar have no UTC equivalent in some zones: a 400, not a 500.
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert error(api.get("issues/", params={"date_from": edge}))[::3] == (400, "date_from"), edge


def test_relative_ranges(api: Api, make) -> None:
    now = utcnow()
    make(name="recent", events=[Ev(now - dt.timedelta(hours=2))])
    make(name="week", events=[Ev(now - dt.timedelta(days=5))])
    make(name="ancient", events=[Ev(now - dt.timedelta(days=400))])
    assert names(api.get("issues/", params={"last_seen_after": "-24h"})) == ["recent"]
    assert names(api.get("issues/", params={"last_seen_after": "-7d"})) == ["recent", "week"]
    assert names(api.get("issues/", params={"last_seen_after": "-1w"})) == ["recent", "week"]
    assert names(api.get("issues/", params={"last_seen_after": "-1m"})) == ["recent", "week"]
    assert names(api.get("issues/", params={"last_seen_after": "-2y"})) == ["recent", "week", "ancient"]
    assert names(api.get("issues/", params={"last_seen_after": "-180M"})) == ["recent"]
    assert names(api.get("issues/", params={"last_seen_before": "-1y"})) == ["ancient"]
    assert error(api.get("issues/", params={"last_seen_after": "-999999y"}))[0] == 400


def test_assignee_filters(api: Api, make, db: Database, seed: Tenant) -> None:
    mine, roles, other_user, free = make(name="mine"), make(name="role"), make(name="theirs"), make(name="free")
    with db.write() as session:
        org = session.merge(seed.organization)
        colleague = accounts.create_user(session, "colleague@acme.test", organization=org)
        team = accounts.create_role(session, org, "Backend", members=[session.merge(seed.user)])
        other_role = accounts.create_role(session, org, "Mobile")
        colleague_id, team_id, other_role_id = colleague.id, team.id, other_role.id
    api.patch(f"issues/{mine.id}/assign/", json={"assignee": {"type": "user", "id": seed.user.id}})
    api.patch(f"issues/{roles.id}/assign/", json={"assignee": {"type": "role", "id": str(team_id)}})
    api.patch(f"issues/{other_user.id}/assign/", json={"assignee": {"type": "user", "id": colleague_id}})
    assert free.id

    def find(value: str) -> list[str]:
        return sorted(names(api.get("issues/", params={"assignee": value})))

    assert find("me") == ["mine"]
    assert find("my_roles") == ["role"]
    assert find("unassigned") == ["free"]
    assert find("any") == ["mine", "role", "theirs"]
    assert find(f"user:{colleague_id}") == ["theirs"]
    assert find(str(colleague_id)) == ["theirs"]
    assert find(f"role:{team_id}") == ["role"]
    assert find(str(team_id)) == ["role"]
    assert find(str(other_role_id)) == []
    assert error(api.get("issues/", params={"assignee": "someone"}))[::3] == (400, "assignee")
    [item] = api.get("issues/", params={"assignee": "me"}).json()["results"]
    assert item["assignee"] == {"id": seed.user.id, "type": "user"}


def test_lenient_pagination_params(api: Api, make) -> None:
    built, _, _ = make(), make(), make()
    assert api.get("issues/", params={"limit": "x", "offset": "-4"}).json()["count"] == 3
    assert api.get("issues/", params={"offset": 10}).json()["results"] == []
    assert len(api.get("issues/", params={"limit": 10**9}).json()["results"]) == 3
    # Offsets beyond any 64-bit integer are just "past the end" (they used to overflow SQLite: a 500).
    for path in ("issues/", "fingerprints/", "releases/", "stack_frames/", f"issues/{built.id}/events/"):
        response = api.get(path, params={"offset": "9" * 30, "limit": "9" * 30})
        assert response.status_code == 200 and response.json()["results"] == [], path


def test_search_paths_agree_with_sql_ordering(api: Api, make, monkeypatch) -> None:
    """Few matches are counted and sorted from one probe pass in Python; many go through SQL. Same answers."""
    from faultline.issues import queries

    for n in range(7):
        events = [Ev(minutes(n * 7 % 5), f"u{k}") for k in range(n % 3)]
        make(name=f"Match {n}", description="needle here", events=events, created_at=minutes(n))
    make(name="Other", description="hay")
    variants = [
        {},
        {"order_by": "first_seen", "order_direction": "ASC"},
        {"order_by": "occurrences"},
        {"order_by": "users", "order_direction": "ASC"},
        {"order_by": "last_seen", "order_direction": "ASC", "status": "active"},
        {"limit": 3, "offset": 2},
        {"limit": 3, "offset": 6},
        {"offset": 50},
    ]
    answers = {}
    for probe in (1, queries.SEARCH_PROBE):
        monkeypatch.setattr(queries, "SEARCH_PROBE", probe)
        answers[probe] = [
            (body["count"], [item["id"] for item in body["results"]])
            for body in (api.get("issues/", params={"search": "NEEDLE", **v}).json() for v in variants)
        ]
    assert answers[1] == answers[queries.SEARCH_PROBE]
    assert answers[1][0][0] == 7 and len(answers[1][0][1]) == 7 and answers[1][5] == (7, answers[1][0][1][2:5])
