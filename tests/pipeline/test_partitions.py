"""PostgreSQL day partitions of `events` (migration 0015) on real pipeline runs: retention makes the days ahead and
splits waiting rows out of the default partition, drops whole days past the retention age with the usage counters
exact, finishes a day a stopped pass left detached; duplicates are still found; the migration keeps every row both
ways. Times are injected (the retention clock; event timestamps relative to it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from faultline import migrate
from faultline.db import Database, create_db_engine
from faultline.issues.models import Event
from faultline.pipeline.digest import DUPLICATE, STORED, Pipeline
from faultline.retention import partitions, usage
from faultline.retention.service import Policy, Retention
from tests.conftest import make_tenant
from tests.pipeline.conftest import Env
from tests.pipeline.test_retention import counters, event, stored_bytes
from tests.support.ingest import ingest

pytestmark = pytest.mark.postgres

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def day_of(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def rows_in(db: Database, table: str) -> int:
    with db.read() as session:
        return int(session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def exists(db: Database, table: str) -> bool:
    with db.read() as session:
        return session.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar_one()


def attached(db: Database) -> set[dt.date]:
    with db.engine.connect() as conn:
        return partitions.attached_days(conn)


def test_days_are_made_ahead_filled_from_the_default_and_dropped_past_retention(pg_env: Env) -> None:
    db = pg_env.db
    assert partitions.is_partitioned(db)
    then = NOW - dt.timedelta(days=100)
    old = [event(1, n, then + dt.timedelta(seconds=n)) for n in range(5)] + [event(2, 9, then)]
    recent = [event(1, 10 + n, NOW - dt.timedelta(hours=n)) for n in range(3)]
    pipeline = Pipeline(db)
    assert {o.status for o in ingest(db, pg_env.project_id, old + recent, pipeline=pipeline)} == {STORED}
    # No partition covered a day 100 days ago when these arrived: they wait in the default partition.
    assert day_of(then) not in attached(db)
    assert rows_in(db, partitions.DEFAULT) >= 6
    before = counters(pg_env)

    # A pass "back then" makes that day (and the days after it) and moves the waiting rows into it.
    report = Retention(db, Policy(retention_days=90), clock=lambda: then).run_pass()
    assert report.partitions_created >= 5 and report.aged_out == 0
    assert {day_of(then) + dt.timedelta(days=n) for n in range(-1, partitions.AHEAD_DAYS + 1)} <= attached(db)
    assert rows_in(db, partitions.table_name(day_of(then))) == 6
    with db.read() as session:
        waiting = session.execute(
            sa.text(f'SELECT count(*) FROM {partitions.DEFAULT} WHERE "timestamp" < :t'),
            {"t": then + dt.timedelta(days=1)},
        ).scalar_one()
    assert waiting == 0

    # Today's pass drops that whole day (and the empty ones after it): the events go, the usage row stays exact.
    report = Retention(db, Policy(retention_days=90), clock=lambda: NOW).run_pass()
    assert report.partitions_dropped >= 1 and report.aged_out == 6
    assert not exists(db, partitions.table_name(day_of(then)))
    assert all(day >= day_of(NOW - dt.timedelta(days=91)) for day in attached(db))
    real, counted = stored_bytes(pg_env)
    assert real == counted > 0
    with db.read() as session:
        assert usage.project_usage(session, pg_env.project_id)[1] == 3
        kept = {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
    assert kept == {e["uuid"] for e in recent}
    assert counters(pg_env) == before  # issue counters never move on retention


def test_a_day_left_detached_is_finished_by_the_next_pass(pg_env: Env) -> None:
    db = pg_env.db
    then = NOW - dt.timedelta(days=95)
    ingest(db, pg_env.project_id, [event(3, n, then + dt.timedelta(minutes=n)) for n in range(4)])
    partitions.prepare(db, then, then - dt.timedelta(days=1))
    name = partitions.table_name(day_of(then))
    assert rows_in(db, name) == 4
    with db.write() as session:  # a pass that stopped after detaching
        session.execute(sa.text(f"ALTER TABLE events DETACH PARTITION {name}"))
    assert stored_bytes(pg_env)[1] > 0

    report = partitions.drop_before(db, NOW - dt.timedelta(days=90))
    assert report.dropped >= 1 and report.events == 4
    assert not exists(db, name)
    real, counted = stored_bytes(pg_env)
    assert real == counted == 0


def test_duplicates_are_found_across_day_partitions(pg_env: Env) -> None:
    """A redelivered batch, and an SDK retry whose clock-skew correction moved the timestamp by seconds (across
    midnight into the next day's partition), store nothing twice."""
    db = pg_env.db
    midnight = dt.datetime.combine(day_of(NOW), dt.time(), dt.UTC)
    first = event(4, 1, midnight - dt.timedelta(seconds=2))
    assert [o.status for o in ingest(db, pg_env.project_id, [first])] == [STORED]
    assert [o.status for o in ingest(db, pg_env.project_id, [first])] == [DUPLICATE]
    retried: dict[str, Any] = {**first, "timestamp": (midnight + dt.timedelta(seconds=3)).isoformat()}
    assert [o.status for o in ingest(db, pg_env.project_id, [retried])] == [DUPLICATE]
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 1


def test_migration_keeps_every_row_both_ways(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    try:
        migrate.upgrade(engine, "0014_search_list_indexes")
        db = Database(pg_url)
        tenant = make_tenant(db, email="part@acme.test")
        docs = [event(5, n, NOW - dt.timedelta(days=n * 3)) for n in range(6)]
        ingest(db, tenant.project.id, docs)
        db.dispose()

        migrate.upgrade(engine)
        db = Database(pg_url)
        assert partitions.is_partitioned(db)
        with db.read() as session:
            uuids = {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
        assert uuids == {d["uuid"] for d in docs}
        # Each event's day got its partition (all within the backfill window); nothing waits in the default.
        assert {day_of(NOW - dt.timedelta(days=n * 3)) for n in range(6)} <= attached(db)
        assert rows_in(db, partitions.DEFAULT) == 0
        new = event(5, 99, NOW)
        ingest(db, tenant.project.id, [new])  # the id sequence carried over
        db.dispose()

        migrate.downgrade(engine, "0014_search_list_indexes")
        db = Database(pg_url)
        assert not partitions.is_partitioned(db)
        with db.read() as session:
            uuids = {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
            ids = session.execute(sa.select(Event.id)).scalars().all()
        assert uuids == {d["uuid"] for d in docs} | {new["uuid"]}
        assert len(ids) == len(set(ids)) == 7
        with db.read() as session:
            keys = {tuple(u["column_names"]) for u in sa.inspect(session.connection()).get_unique_constraints("events")}
        assert ("project_id", "uuid") in keys
        db.dispose()
    finally:
        engine.dispose()
