"""Retention on real pipeline runs (SQLite and PostgreSQL): a tiny byte budget holds while events keep arriving,
every issue keeps its first and last events, issue counters never move, events past the retention age go, and
unused symbol sets expire. Times are injected (the retention clock, event timestamps relative to it)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from faultline.issues.models import Event, Issue, IssueVolumeDaily
from faultline.pipeline.digest import STORED, Pipeline
from faultline.retention import usage
from faultline.retention.service import Policy, Retention, sampled
from faultline.symbols.models import SymbolSet
from tests.pipeline.conftest import Env
from tests.support.ingest import exception_event, ingest

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def event(issue: int, n: int, at: dt.datetime) -> dict[str, Any]:
    return exception_event(
        f"Retention{issue}Error",
        "the same failure",
        distinct_id=f"user-{n % 7}",
        properties={"$exception_fingerprint": f"issue-{issue}", "payload": "x" * 300},
        timestamp=at.isoformat(),
    )


def counters(env: Env) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Per issue: occurrences, users, summed daily volume."""
    with env.db.read() as session:
        volume = dict(
            session.execute(
                sa.select(IssueVolumeDaily.issue_id, sa.func.sum(IssueVolumeDaily.count)).group_by(
                    IssueVolumeDaily.issue_id
                )
            ).all()
        )
        return {
            row.id: (row.occurrences, row.users, int(volume[row.id]))
            for row in session.execute(sa.select(Issue.id, Issue.occurrences, Issue.users))
        }


def stored_bytes(env: Env) -> tuple[int, int]:
    """(SUM of size_bytes over the events table, what project_storage says)."""
    with env.db.read() as session:
        real = session.execute(sa.select(sa.func.coalesce(sa.func.sum(Event.size_bytes), 0))).scalar_one()
        return int(real), usage.total_bytes(session)


def test_byte_budget_holds_while_ingesting_and_keeps_first_and_last(any_env: Env) -> None:
    budget = 60_000
    retention = Retention(any_env.db, Policy(retention_days=0, storage_budget=budget, batch=50), clock=lambda: NOW)
    pipeline = Pipeline(any_env.db)
    first: dict[int, str] = {}
    last: dict[int, str] = {}
    start = NOW - dt.timedelta(hours=6)
    sent = 0
    for round_ in range(12):  # 12 rounds of 40 events over 8 issues: ~6× the budget arrives
        batch = []
        for k in range(40):
            issue = (round_ * 40 + k) % 8
            doc = event(issue, sent, start + dt.timedelta(seconds=sent))
            first.setdefault(issue, doc["uuid"])
            last[issue] = doc["uuid"]
            batch.append(doc)
            sent += 1
        assert {o.status for o in ingest(any_env.db, any_env.project_id, batch, pipeline=pipeline)} == {STORED}
        report = retention.run_pass()
        real, counted = stored_bytes(any_env)
        assert real == counted  # the usage row is exact, not an estimate
        if round_ >= 2:  # from the moment more than the budget has arrived, storage stays within ±10 % of it
            assert budget * 0.9 <= real <= budget * 1.1, (round_, real, report)
    assert report.evicted > 0 and not report.over_budget

    with any_env.db.read() as session:
        kept = {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
        survivors = session.execute(sa.select(Event.uuid)).scalars().all()
    assert set(first.values()) <= kept, "every issue's first event survives"
    assert set(last.values()) <= kept, "every issue's last event survives"
    assert len(kept) < sent
    # The sample: events kept besides first/last are mostly the 1-in-10 sampled ones (evicted only as a last resort).
    others = [u for u in survivors if str(u) not in set(first.values()) | set(last.values())]
    assert others and sum(sampled(u) for u in others) >= len(others) // 2

    # Issue counters never move on eviction: each issue counted its 60 events.
    assert {c[0] for c in counters(any_env).values()} == {sent // 8}
    assert {c[2] for c in counters(any_env).values()} == {sent // 8}


def test_counters_unchanged_by_eviction(any_env: Env) -> None:
    pipeline = Pipeline(any_env.db)
    start = NOW - dt.timedelta(hours=1)
    ingest(
        any_env.db,
        any_env.project_id,
        [event(n % 3, n, start + dt.timedelta(seconds=n)) for n in range(90)],
        pipeline=pipeline,
    )
    before = counters(any_env)
    real, _ = stored_bytes(any_env)
    report = Retention(any_env.db, Policy(retention_days=0, storage_budget=real // 4, batch=7)).run_pass()
    assert report.evicted > 0
    assert counters(any_env) == before
    after, counted = stored_bytes(any_env)
    assert after == counted <= real // 4 * 1.1


def test_events_past_the_retention_age_are_deleted(any_env: Env) -> None:
    pipeline = Pipeline(any_env.db)
    old = [event(1, n, NOW - dt.timedelta(days=100, seconds=n)) for n in range(5)]
    recent = [event(1, 10 + n, NOW - dt.timedelta(days=1, seconds=n)) for n in range(3)]
    ingest(any_env.db, any_env.project_id, old + recent, pipeline=pipeline)
    before = counters(any_env)
    report = Retention(any_env.db, Policy(retention_days=90, batch=2), clock=lambda: NOW).run_pass()
    assert report.aged_out == 5
    with any_env.db.read() as session:
        kept = {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
        assert usage.project_usage(session, any_env.project_id)[1] == 3
    assert kept == {e["uuid"] for e in recent}
    assert counters(any_env) == before


def test_unused_symbol_sets_expire(any_env: Env) -> None:
    with any_env.db.write() as session:
        for ref, used in (("old", NOW - dt.timedelta(days=40)), ("fresh", NOW - dt.timedelta(days=2))):
            session.add(
                SymbolSet(
                    project_id=any_env.project_id, ref=ref, last_used=used, created_at=NOW - dt.timedelta(days=60)
                )
            )
        session.add(SymbolSet(project_id=any_env.project_id, ref="never-used", created_at=NOW - dt.timedelta(days=31)))
    deleted: list[str] = []

    def delete(session: Any, project_id: int, sets: list[SymbolSet]) -> int:
        deleted.extend(s.ref for s in sets)
        session.execute(sa.delete(SymbolSet).where(SymbolSet.id.in_([s.id for s in sets])))
        return len(sets)

    retention = Retention(
        any_env.db, Policy(retention_days=0, symbol_set_max_age_days=30), clock=lambda: NOW, delete_symbol_sets=delete
    )
    assert retention.run_pass().symbol_sets == 2
    assert sorted(deleted) == ["never-used", "old"]
    with any_env.db.read() as session:
        assert session.execute(sa.select(SymbolSet.ref)).scalars().all() == ["fresh"]
