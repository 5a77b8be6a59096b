"""The digest pipeline end to end on a real database: issues, fingerprints, events, frames, counters, lifecycle."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from faultline.ingest.models import IngestCounter, IngestError
from faultline.issues.models import (
    ActivityLog,
    Event,
    Issue,
    IssueAssignment,
    IssueFingerprint,
    IssueUser,
    IssueVolumeDaily,
    IssueVolumeHourly,
    NotificationOutbox,
)
from faultline.pipeline.digest import Pipeline
from faultline.protocol.seams import AppliedSymbols, Assignee, FrameResolution, GroupingDecision, NoRules
from faultline.symbols.models import StackFrame
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event, ingest, load_sample_events, python_frame


def counters(env: Env) -> dict[str, int]:
    with env.db.read() as s:
        rows = s.execute(
            sa.select(IngestCounter.name, IngestCounter.value).where(IngestCounter.project_id == env.project_id)
        ).all()
    return {name: value for name, value in rows}


def test_python_sample_becomes_issue_event_and_frames(any_env: Env) -> None:
    env = any_env
    [sample] = load_sample_events("posthog_python_exception.json")
    [out] = ingest(env.db, env.project_id, [sample])
    assert out.status == "stored" and out.uuid == uuid.UUID("d16cc4b9-b062-429e-b845-beba26ddbe7e")
    recorded = dt.datetime.fromisoformat(sample["timestamp"])  # the SDK's time (to the µs), not the arrival time
    with env.db.read() as s:
        issue = s.execute(sa.select(Issue)).scalar_one()
        assert (issue.name, issue.description, issue.status) == ("RuntimeError", "could not charge alice", "active")
        assert (issue.occurrences, issue.users) == (1, 1)
        assert issue.first_seen == issue.last_seen == recorded
        fingerprint = s.execute(sa.select(IssueFingerprint)).scalar_one()
        assert fingerprint.issue_id == issue.id and fingerprint.fingerprint == out.fingerprint
        event = s.execute(sa.select(Event)).scalar_one()
        assert (event.distinct_id, event.lib, event.lib_version, event.level) == (
            "user-123",
            "posthog-python",
            "7.91.1",
            "error",
        )
        props = event.properties
        assert props["$exception_issue_id"] == str(issue.id)
        assert props["$exception_fingerprint"] == out.fingerprint and props["$exception_fingerprint_version"] == "v1"
        assert props["$exception_types"] == ["RuntimeError", "ValueError"]
        assert props["$exception_functions"] == ["<module>", "charge", "parse_amount"]
        assert props["$exception_sources"] == ["capture_ph.py", "myapp/billing.py"]
        assert props["$exception_handled"] is True and props["plan"] == "pro"
        # Outermost first (RuntimeError), its cause after it; every exception got an id; stacks are resolved.
        assert [e["type"] for e in props["$exception_list"]] == ["RuntimeError", "ValueError"]
        assert all(e["stacktrace"]["type"] == "resolved" and e["id"] for e in props["$exception_list"])
        record = props["$exception_fingerprint_record"]
        assert [(r["type"], r["pieces"]) for r in record] == [
            ("exception", ["Exception Type"]),
            ("frame", ["Source file name", "Module name", "Resolved function name"]),
            ("frame", ["Source file name", "Module name", "Resolved function name"]),
            ("exception", ["Exception Type"]),
            ("frame", ["Source file name", "Module name", "Resolved function name"]),
            ("frame", ["Source file name", "Module name", "Resolved function name"]),
        ]
        frames = s.execute(sa.select(StackFrame)).scalars().all()
        assert len(frames) == 4 and all(f.resolved and f.part == 0 for f in frames)
        charge = next(f for f in frames if f.contents["resolved_name"] == "charge" and f.contents["line"] == 13)
        assert charge.contents["raw_id"] == f"{charge.raw_id}/0"
        assert charge.context["line"] == {
            "number": 13,
            "line": '        raise RuntimeError(f"could not charge {user}") from exc',
        }
        assert {r["raw_id"] for r in record if r["type"] == "frame"} == {f.contents["raw_id"] for f in frames}
        created = s.execute(sa.select(NotificationOutbox)).scalar_one()
        assert created.event == "$error_tracking_issue_created" and created.distinct_id == str(issue.id)
        assert created.properties["fingerprint"] == out.fingerprint and created.properties["status"] == "Active"
    assert counters(env) == {"accepted": 1}


def test_same_exception_same_issue_other_exception_new_issue(env: Env) -> None:
    frames = [python_frame("main", 1), python_frame("handler", 10)]
    first = ingest(env.db, env.project_id, [exception_event("KeyError", "'a'", frames=frames)])[0]
    again = ingest(env.db, env.project_id, [exception_event("KeyError", "'b' (message differs)", frames=frames)])[0]
    other = ingest(env.db, env.project_id, [exception_event("KeyError", "'a'", frames=[python_frame("other", 3)])])[0]
    assert first.issue_id == again.issue_id != other.issue_id
    assert first.fingerprint == again.fingerprint != other.fingerprint
    with env.db.read() as s:
        assert s.execute(sa.select(Issue.occurrences).where(Issue.id == first.issue_id)).scalar_one() == 2


def test_redelivery_and_retries_never_double_count(env: Env) -> None:
    events = [exception_event("E", "x", distinct_id=f"u{i}") for i in range(3)]
    pipeline = Pipeline(env.db)
    assert [o.status for o in ingest(env.db, env.project_id, events, pipeline=pipeline)] == ["stored"] * 3
    again = ingest(env.db, env.project_id, [*events, events[0]], pipeline=pipeline)
    assert [o.status for o in again] == ["duplicate"] * 4
    with env.db.read() as s:
        issue = s.execute(sa.select(Issue)).scalar_one()
        assert (issue.occurrences, issue.users) == (3, 3)
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 3
    assert counters(env) == {"accepted": 3, "duplicate": 4}


def test_aggregates_users_and_volume_buckets(env: Env) -> None:
    times = ["2026-11-20T10:05:00Z", "2026-11-20T10:55:00Z", "2026-11-20T13:00:00Z", "2026-11-21T00:30:00Z"]
    users = ["alice", "bob", "alice", "alice"]
    events = [exception_event("E", "x", distinct_id=u, timestamp=t) for u, t in zip(users, times, strict=True)]
    ingest(env.db, env.project_id, events[:2])
    ingest(env.db, env.project_id, events[2:])
    with env.db.read() as s:
        issue = s.execute(sa.select(Issue)).scalar_one()
        assert (issue.occurrences, issue.users) == (4, 2)
        assert issue.first_seen == dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC)
        assert issue.last_seen == dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.UTC)
        hourly = dict(s.execute(sa.select(IssueVolumeHourly.bucket, IssueVolumeHourly.count)).all())
        assert hourly == {
            dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC): 2,
            dt.datetime(2026, 11, 20, 13, tzinfo=dt.UTC): 1,
            dt.datetime(2026, 11, 21, 0, tzinfo=dt.UTC): 1,
        }
        daily = dict(s.execute(sa.select(IssueVolumeDaily.bucket, IssueVolumeDaily.count)).all())
        assert daily == {dt.datetime(2026, 11, 20, tzinfo=dt.UTC): 3, dt.datetime(2026, 11, 21, tzinfo=dt.UTC): 1}
        assert sorted(s.execute(sa.select(IssueUser.distinct_id)).scalars()) == ["alice", "bob"]


def _set_status(env: Env, issue_id: uuid.UUID, status: str) -> None:
    with env.db.write() as s:
        s.execute(sa.update(Issue).where(Issue.id == issue_id).values(status=status))


def test_resolved_issue_reopens_on_new_event_with_activity(any_env: Env) -> None:
    env = any_env
    first = ingest(env.db, env.project_id, [exception_event("E", "x")])[0]
    _set_status(env, first.issue_id, "resolved")
    second = ingest(env.db, env.project_id, [exception_event("E", "x"), exception_event("E", "x")])
    assert {o.issue_id for o in second} == {first.issue_id} and {o.status for o in second} == {"stored"}
    with env.db.read() as s:
        issue = s.get(Issue, first.issue_id)
        assert issue.status == "active" and issue.state_updated_at is not None and issue.occurrences == 3
        [activity] = s.execute(sa.select(ActivityLog)).scalars().all()
        assert activity.item_id == str(issue.id) and activity.activity == "updated" and activity.user_id is None
        assert activity.detail["changes"] == [
            {
                "type": "ErrorTrackingIssue",
                "action": "changed",
                "field": "status",
                "before": "resolved",
                "after": "active",
            }
        ]
        assert activity.detail["trigger"]["type"] == "regression"
        events = [n.event for n in s.execute(sa.select(NotificationOutbox).order_by(NotificationOutbox.id)).scalars()]
        assert events == ["$error_tracking_issue_created", "$error_tracking_issue_reopened"]


def test_suppressed_issue_drops_events_and_counts_them(env: Env) -> None:
    first = ingest(env.db, env.project_id, [exception_event("E", "x")])[0]
    _set_status(env, first.issue_id, "suppressed")
    dropped = ingest(env.db, env.project_id, [exception_event("E", "x")])[0]
    assert dropped.status == "suppressed" and dropped.issue_id == first.issue_id
    with env.db.read() as s:
        issue = s.get(Issue, first.issue_id)
        assert issue.status == "suppressed" and issue.occurrences == 1
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 1
    assert counters(env) == {"accepted": 1, "dropped_suppressed": 1}


def test_manual_fingerprint_and_issue_name(env: Env) -> None:
    props = {"$exception_fingerprint": "checkout-broken", "$issue_name": "Checkout\x00 broken" + "!" * 300}
    a = ingest(env.db, env.project_id, [exception_event("TypeError", "a", properties=props)])[0]
    b = ingest(env.db, env.project_id, [exception_event("ValueError", "b", properties=props)])[0]
    assert a.issue_id == b.issue_id and a.fingerprint == "checkout-broken"
    assert a.properties["$exception_fingerprint_record"] == [{"type": "manual"}]
    assert "$exception_fingerprint_version" not in a.properties
    with env.db.read() as s:
        name = s.get(Issue, a.issue_id).name
    assert name.startswith("Checkout\ufffd broken") and len(name.encode()) == 255 + 3


class FakeRules(NoRules):
    """Records what the pipeline shows each rule kind (grouping, suppression, assignment)."""

    def __init__(
        self, *, group: GroupingDecision | None = None, suppress_type: str | None = None, assign: Assignee | None = None
    ) -> None:
        self.group, self.suppress_type, self.assign = group, suppress_type, assign
        self.seen: dict[str, list[Mapping[str, Any]]] = {"grouping": [], "suppression": [], "assignment": []}

    def grouping(self, properties: Mapping[str, Any]) -> GroupingDecision | None:
        self.seen["grouping"].append(dict(properties))
        return self.group

    def suppression(self, properties: Mapping[str, Any], event_uuid: uuid.UUID) -> uuid.UUID | None:
        self.seen["suppression"].append(dict(properties))
        return uuid.UUID(int=1) if properties["$exception_types"][0] == self.suppress_type else None

    def assignment(self, properties: Mapping[str, Any], issue: Mapping[str, Any]) -> Assignee | None:
        self.seen["assignment"].append({**properties, "issue": dict(issue)})
        return self.assign


def test_grouping_rule_fingerprint_and_assignee(env: Env) -> None:
    rule_id = uuid.uuid4()
    rules = FakeRules(group=GroupingDecision(rule_id, Assignee("user", env.tenant.user.id)))
    a = ingest(env.db, env.project_id, [exception_event("A", "x")], rules=rules)[0]
    b = ingest(env.db, env.project_id, [exception_event("B", "y")], rules=rules)[0]
    assert a.fingerprint == b.fingerprint == f"custom-rule:{rule_id}" and a.issue_id == b.issue_id
    assert a.properties["$exception_fingerprint_record"] == [{"type": "custom", "rule_id": str(rule_id)}]
    assert rules.seen["grouping"][0]["$exception_fingerprint"] is None
    assert rules.seen["grouping"][0]["$exception_types"] == ["A"]
    assert rules.seen["assignment"] == []  # the grouping rule's assignee wins
    with env.db.read() as s:
        assignment = s.execute(sa.select(IssueAssignment)).scalar_one()
        assert assignment.issue_id == a.issue_id and assignment.user_id == env.tenant.user.id
        note = s.execute(sa.select(NotificationOutbox)).scalar_one()
        assert note.properties["assignee"] == f'{{"type":"user","id":{env.tenant.user.id}}}'


def test_suppression_rule_drops_before_any_issue_exists(env: Env) -> None:
    rules = FakeRules(suppress_type="Noise", assign=Assignee("user", env.tenant.user.id))
    outs = ingest(env.db, env.project_id, [exception_event("Noise", "x"), exception_event("Real", "y")], rules=rules)
    assert [o.status for o in outs] == ["suppressed", "stored"]
    assert rules.seen["suppression"][0]["$exception_fingerprint"] == outs[0].fingerprint
    assert rules.seen["assignment"][0]["issue"]["status"] == "active"
    assert rules.seen["assignment"][0]["$exception_issue_id"] == str(outs[1].issue_id)
    with env.db.read() as s:
        assert s.execute(sa.select(Issue.name)).scalars().all() == ["Real"]
        assert s.execute(sa.select(IssueAssignment.user_id)).scalar_one() == env.tenant.user.id
    assert counters(env) == {"accepted": 1, "dropped_suppressed": 1}


class FakeSymbols:
    """A `SymbolResolver` that is its own `SymbolBatch`, recording the order of the calls it gets."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.calls: list[str] = []

    def batch(self, session: Any) -> FakeSymbols:
        self.calls.append("batch")
        return self

    def apply(self, session: Any) -> AppliedSymbols:
        self.calls.append("apply")
        return AppliedSymbols()

    def finish(self, committed: bool) -> None:
        self.calls.append(f"finish:{committed}")

    def resolve(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None:
        self.asked.append(frame["function"])
        self.calls.append("resolve")
        if frame["function"] != "c":
            return None
        return [
            FrameResolution(
                contents={
                    "mangled_name": "c",
                    "resolved_name": "checkout",
                    "source": "src/app.js",
                    "line": 19,
                    "column": 19,
                    "lang": "javascript",
                    "in_app": True,
                    "resolved": True,
                },
                context={"before": [], "line": {"number": 19, "line": "x"}, "after": []},
            )
        ]


def test_symbol_resolver_seam_is_used_for_js_frames(env: Env) -> None:
    symbols = FakeSymbols()
    [out] = ingest(env.db, env.project_id, load_sample_events("posthog_js_exception.json"), symbols=symbols)
    assert symbols.asked == ["process.processTimers", "listOnTimeout", "Timeout._onTimeout", "c", "r", "i"]
    # Every frame is resolved before the batch's writes are applied, and the batch hears that they committed.
    assert symbols.calls == ["batch", *["resolve"] * 6, "apply", "finish:True"]
    frames = out.properties["$exception_list"][0]["stacktrace"]["frames"]
    by_name = {f["mangled_name"]: f for f in frames}
    assert by_name["c"]["resolved_name"] == "checkout" and by_name["c"]["resolved"] is True
    assert by_name["r"]["resolved"] is False and by_name["r"]["resolve_failure"].startswith("No sourcemap uploaded")
    # Resolved in-app frames key the fingerprint (the un-minified harness frame, then the symbolicated one).
    assert [r["pieces"] for r in out.properties["$exception_fingerprint_record"] if r["type"] == "frame"] == [
        ["Resolved function name"],
        ["Source file name", "Resolved function name"],
    ]


def test_js_sample_without_symbols_groups_on_minified_frames(env: Env) -> None:
    [out] = ingest(env.db, env.project_id, load_sample_events("posthog_js_exception.json"))
    record = out.properties["$exception_fingerprint_record"]
    # Frames 0-1 are not in app; frame 2 (no URL) is "not minified" hence resolved; so only it keys the group.
    assert [r["pieces"] for r in record] == [["Exception Type"], ["Resolved function name"]]
    assert out.properties["$exception_functions"] == ["Timeout._onTimeout"]


def test_invalid_events_are_counted_and_reported(env: Env) -> None:
    outs = ingest(
        env.db,
        env.project_id,
        [{"event": "$exception", "properties": {"$exception_list": []}}, exception_event("Fine", "x")],
    )
    assert [o.status for o in outs] == ["invalid", "stored"]
    with env.db.read() as s:
        error = s.execute(sa.select(IngestError)).scalar_one()
        assert (error.stage, error.code, error.project_id) == ("digest", "empty_exception_list", env.project_id)
    assert counters(env) == {"accepted": 1, "dropped_invalid": 1}


def test_concurrent_workers_create_one_issue_per_fingerprint_on_postgres(pg_env: Env) -> None:
    env = pg_env
    barrier = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.extend(ingest(env.db, env.project_id, [exception_event("Race", "same", distinct_id=f"u{i}")]))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {o.status for o in results} == {"stored"} and len({o.issue_id for o in results}) == 1
    with env.db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Issue)).scalar_one() == 1
        issue = s.execute(sa.select(Issue)).scalar_one()
        assert (issue.occurrences, issue.users) == (4, 4)
        created = s.execute(sa.select(sa.func.count()).select_from(NotificationOutbox)).scalar_one()
        assert created == 1
