"""The digest's limits on real pipeline runs (SQLite and PostgreSQL): the per-issue rate limit keeps counting what
it does not store, bypass rules exempt events, severity rules set new issues' severity, the new-issue limiter caps
new issues per window. Time is injected (`Limits.clock`): windows never depend on when the test runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from faultline.autocapture.models import ErrorTrackingSettings
from faultline.db import Database
from faultline.ingest.models import IngestCounter
from faultline.issues.models import Event, Issue, IssueVolumeHourly
from faultline.pipeline.digest import NEW_ISSUE_LIMITED, RATE_LIMITED, STORED, Limits, Pipeline
from faultline.retention import usage
from faultline.rules import service as rules_service
from faultline.rules.engine import RulesEngine
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event, ingest

T0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def leaf(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"type": "AND", "values": [{"key": key, "type": "event", "operator": operator, "value": value}]}


def loop_event(fingerprint: str, n: int, *, message: str = "boom", exc_type: str = "LoopError") -> dict[str, Any]:
    """An event with a client fingerprint (one issue whatever the message), timestamped inside the test's hour."""
    at = (T0 + dt.timedelta(seconds=n)).isoformat()
    return exception_event(
        exc_type, message, distinct_id=f"user-{n % 3}", properties={"$exception_fingerprint": fingerprint}, timestamp=at
    )


def set_issue_limit(db: Database, project_id: int, value: int, minutes: int) -> None:
    with db.write() as session:
        session.add(
            ErrorTrackingSettings(
                project_id=project_id,
                per_issue_rate_limit_value=value,
                per_issue_rate_limit_bucket_size_minutes=minutes,
            )
        )


def counter(db: Database, project_id: int, name: str) -> int:
    with db.read() as session:
        value = session.execute(
            sa.select(sa.func.sum(IngestCounter.value)).where(
                IngestCounter.project_id == project_id, IngestCounter.name == name
            )
        ).scalar()
    return int(value or 0)


def issue_state(db: Database, issue_id: uuid.UUID) -> tuple[int, int, int]:
    """(occurrences, stored events, hourly volume) of an issue."""
    with db.read() as session:
        occurrences = session.execute(sa.select(Issue.occurrences).where(Issue.id == issue_id)).scalar_one()
        stored = session.execute(sa.select(sa.func.count()).where(Event.issue_id == issue_id)).scalar_one()
        volume = session.execute(
            sa.select(sa.func.sum(IssueVolumeHourly.count)).where(IssueVolumeHourly.issue_id == issue_id)
        ).scalar()
    return occurrences, stored, int(volume or 0)


def test_per_issue_limit_stores_up_to_the_limit_and_counts_every_event(any_env: Env) -> None:
    db, project_id = any_env.db, any_env.project_id
    set_issue_limit(db, project_id, value=5, minutes=60)
    clock = Clock(T0 + dt.timedelta(minutes=10))
    pipeline = Pipeline(db, rules=RulesEngine(), limits=Limits(clock=clock))

    outcomes = []
    for start in range(0, 12, 3):  # the loop arrives over four batches; the window spans them
        batch = [loop_event("loop", n) for n in range(start, start + 3)]
        batch.append(loop_event(f"other-{start}", 100 + start, exc_type="OtherError"))  # other issues keep flowing
        outcomes += ingest(db, project_id, batch, pipeline=pipeline)

    loop = [o for o in outcomes if o.fingerprint == "loop"]
    others = [o for o in outcomes if o.fingerprint != "loop"]
    assert [o.status for o in loop] == [STORED] * 5 + [RATE_LIMITED] * 7
    assert {o.status for o in others} == {STORED}
    loop_issue = loop[0].issue_id
    assert issue_state(db, loop_issue) == (12, 5, 12)  # all twelve counted, five stored
    assert counter(db, project_id, "rate_limited") == 7
    assert counter(db, project_id, "accepted") == 5 + 4
    with db.read() as session:
        stored_bytes, stored_events = usage.project_usage(session, project_id)
        assert stored_events == 9
        assert stored_bytes == session.execute(sa.select(sa.func.sum(Event.size_bytes))).scalar_one()

    clock.now += dt.timedelta(hours=1)  # the next window stores again
    [again] = ingest(db, project_id, [loop_event("loop", 50)], pipeline=pipeline)
    assert again.status == STORED and again.issue_id == loop_issue
    assert issue_state(db, loop_issue) == (13, 6, 13)


def test_bypass_rules_exempt_matching_events(any_env: Env) -> None:
    db, project_id = any_env.db, any_env.project_id
    set_issue_limit(db, project_id, value=2, minutes=60)
    with db.write() as session:
        rules_service.create_bypass_rule(session, project_id, filters=leaf("$exception_values", "icontains", "vip"))
    pipeline = Pipeline(db, rules=RulesEngine(), limits=Limits(clock=Clock(T0)))
    events = [loop_event("checkout", n, message="plain failure") for n in range(4)]
    events += [loop_event("checkout", 10 + n, message="VIP customer failure") for n in range(4)]
    outcomes = ingest(db, project_id, events, pipeline=pipeline)
    assert [o.status for o in outcomes] == [STORED, STORED, RATE_LIMITED, RATE_LIMITED] + [STORED] * 4
    assert issue_state(db, outcomes[0].issue_id) == (8, 6, 8)


def test_severity_rules_set_the_severity_of_new_issues(any_env: Env) -> None:
    db, project_id = any_env.db, any_env.project_id
    with db.write() as session:
        rules_service.create_severity_rule(
            session, project_id, filters=leaf("$exception_types", "exact", ["PaymentError"]), severity="critical"
        )
        rules_service.create_severity_rule(
            session, project_id, filters={"type": "AND", "values": []}, severity="low", order_key=5
        )
    pipeline = Pipeline(db, rules=RulesEngine())
    payment, other = ingest(
        db,
        project_id,
        [exception_event("PaymentError", "card declined"), exception_event("ValueError", "bad input")],
        pipeline=pipeline,
    )
    with db.read() as session:
        severity = dict(session.execute(sa.select(Issue.id, Issue.severity)).all())
    assert severity[payment.issue_id] == "critical"  # first matching rule in order_key order
    assert severity[other.issue_id] == "low"  # the match-all rule after it


def test_new_issue_limiter_caps_new_issues_per_window(any_env: Env) -> None:
    db, project_id = any_env.db, any_env.project_id
    clock = Clock(T0 + dt.timedelta(minutes=5))
    pipeline = Pipeline(db, rules=RulesEngine(), limits=Limits(new_issues_per_hour=3, clock=clock))
    [known] = ingest(db, project_id, [loop_event("known", 0)], pipeline=pipeline)
    outcomes = ingest(db, project_id, [loop_event(f"explosion-{n}", n + 1) for n in range(5)], pipeline=pipeline)
    assert [o.status for o in outcomes] == [STORED, STORED, NEW_ISSUE_LIMITED, NEW_ISSUE_LIMITED, NEW_ISSUE_LIMITED][
        : len(outcomes)
    ]
    assert sum(o.status == STORED for o in outcomes) == 2  # 3 per hour, one used by "known"
    # An existing issue keeps flowing while new ones are refused.
    [again] = ingest(db, project_id, [loop_event("known", 9)], pipeline=pipeline)
    assert again.status == STORED and again.issue_id == known.issue_id
    assert counter(db, project_id, "new_issue_limited") == 3
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Issue)).scalar_one() == 3

    clock.now += dt.timedelta(hours=1)
    later = ingest(db, project_id, [loop_event(f"explosion-{n}", n + 1) for n in range(2, 5)], pipeline=pipeline)
    assert [o.status for o in later] == [STORED] * 3
