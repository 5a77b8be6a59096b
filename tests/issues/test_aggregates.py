"""Per-issue aggregates: re-derivation from events, merge combination, search columns."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from faultline.db import Database
from faultline.issues import aggregates
from faultline.issues.models import Event, Issue, IssueUser, IssueVolumeHourly
from tests.conftest import Tenant
from tests.support.factories import BASE_TIME, Ev, aggregate_snapshot, create_issue


def at(hours: float) -> dt.datetime:
    return BASE_TIME + dt.timedelta(hours=hours)


def test_recompute_reproduces_what_the_digest_maintains(db: Database, seed: Tenant) -> None:
    events = [Ev(at(h), u) for h, u in [(0, "a"), (0.2, "b"), (1, "a"), (25, None), (49.5, "c"), (49.6, "c")]]
    with db.write() as session:
        built = create_issue(session, seed.project.id, events=events)
        expected = aggregate_snapshot(session, built.id)
        # Wreck the aggregates, then re-derive them.
        session.execute(sa.update(Issue).values(occurrences=999, users=0, first_seen=None, last_seen=None))
        session.execute(sa.delete(IssueUser))
        session.execute(sa.update(IssueVolumeHourly).values(count=42))
        aggregates.recompute(session, [built.id])
        assert aggregate_snapshot(session, built.id) == expected
    assert expected["occurrences"] == 6 and expected["users"] == 3
    assert sorted(expected["daily"].values()) == [1, 2, 3] and sum(expected["hourly"].values()) == 6


def test_recompute_without_events_keeps_fingerprint_first_seen(db: Database, seed: Tenant) -> None:
    first = BASE_TIME - dt.timedelta(days=3)
    with db.write() as session:
        built = create_issue(session, seed.project.id, fingerprint_first_seen=first, created_at=BASE_TIME)
        aggregates.recompute(session, [built.id])
        snapshot = aggregate_snapshot(session, built.id)
    assert snapshot["occurrences"] == 0 and snapshot["users"] == 0 and snapshot["last_seen"] is None
    assert snapshot["first_seen"] == first and snapshot["hourly"] == {} and snapshot["user_ids"] == set()


def test_merge_into_equals_recompute_with_overlapping_buckets_and_users(db: Database, seed: Tenant) -> None:
    with db.write() as session:
        target = create_issue(session, seed.project.id, events=[Ev(at(0), "a"), Ev(at(30), "b")])
        s1 = create_issue(session, seed.project.id, events=[Ev(at(0.5), "a"), Ev(at(2), "c")])
        s2 = create_issue(session, seed.project.id, events=[Ev(at(0.7), "c"), Ev(at(-5), None)])
        aggregates.merge_into(session, target.id, [s1.id, s2.id])
        session.execute(sa.update(Event).where(Event.issue_id.in_([s1.id, s2.id])).values(issue_id=target.id))
        combined = aggregate_snapshot(session, target.id)
        aggregates.recompute(session, [target.id])
        assert aggregate_snapshot(session, target.id) == combined
    assert combined["occurrences"] == 6 and combined["users"] == 3
    assert combined["hourly"][at(0.5)] == 2 and combined["hourly"][at(-0.5)] == 1 and combined["first_seen"] == at(-5)


def test_search_columns() -> None:
    columns = aggregates.search_columns(["TypeError", "TypeError", "Ca\x00use\nd", 5, ""], ["msg one", None])
    assert columns == {
        "exception_types": "TypeError\nCa\ufffduse d",
        "exception_values": "msg one",
        "exception_functions": None,
        "exception_sources": None,
    }
    assert set(aggregates.search_columns(None, []).values()) == {None}
    chain = [
        {"stacktrace": {"frames": [{"resolved_name": "lib_call", "source": "lib.py", "in_app": False}]}},
        {"stacktrace": {"frames": [{"resolved_name": "handler", "source": "app/views.py", "in_app": True}]}},
        "junk",
    ]
    frames = aggregates.search_columns(None, None, chain)
    # In-app frames first (the column is capped), of every exception in the chain.
    assert (frames["exception_functions"], frames["exception_sources"]) == ("handler\nlib_call", "app/views.py\nlib.py")
    long = aggregates.search_columns(["x" * 5000, "y"], None)["exception_types"]
    assert long is not None and len(long) == aggregates.SEARCH_COLUMN_MAX and long == "x" * 2000
    capped = aggregates.search_columns([f"T{n}" * 50 for n in range(100)], None)["exception_types"]
    assert capped is not None and len(capped) <= aggregates.SEARCH_COLUMN_MAX
    assert aggregates.combine_search_columns("A\nB", None, "B\nC") == "A\nB\nC"


def test_split_issue_gets_search_columns_from_its_events(db: Database, seed: Tenant) -> None:
    from faultline.issues import service

    with db.write() as session:
        built = create_issue(
            session,
            seed.project.id,
            fingerprints=["fp-1", "fp-2"],
            events=[Ev(at(0), "a", "fp-1"), Ev(at(1), "b", "fp-2")],
            exception_types=["KeyError"],
            exception_values=["'missing'"],
        )
        [new_id] = service.split_issue(session, seed.project.id, built.id, [service.SplitRequest("fp-2")], None)
        row = session.execute(
            sa.select(Issue.exception_types, Issue.exception_values, Issue.name).where(Issue.id == new_id)
        ).one()
    assert tuple(row) == ("KeyError", "'missing'", "KeyError")


def test_service_rejects_what_the_api_schema_would(db: Database, seed: Tenant) -> None:
    """The UI calls the service directly, without the API's request models."""
    import pytest

    from faultline.issues import service

    with db.write() as session:
        built = create_issue(session, seed.project.id)
        with pytest.raises(service.InvalidStatus):
            service.update_issue(session, seed.project.id, built.id, {"status": "archived"}, None)
        with pytest.raises(service.InvalidSeverity):
            service.update_issue(session, seed.project.id, built.id, {"severity": "urgent"}, None)
        with pytest.raises(service.InvalidStatus):
            service.bulk_set_status(session, seed.project.id, [built.id], None, None)
        with pytest.raises(service.IssueNotFound):
            service.update_issue(session, seed.project.id + 1, built.id, {"status": "resolved"}, None)
        changed = service.update_issue(session, seed.project.id, built.id, {"status": "resolved"}, None)
        assert changed.status == "resolved"
