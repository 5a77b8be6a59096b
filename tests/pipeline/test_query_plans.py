"""The digest's per-batch lookups must probe their unique index whatever the planner's statistics say.

Regression: on a PostgreSQL table that had never been analysed (a fresh install, or autovacuum not there yet) the
duplicate check `project_id = ? AND uuid IN (500 values)` was planned through `ix_events_project_timestamp` and
filtered the whole project's events per batch (130 events/s at 128 k stored events, 1,400 after ANALYZE). These
tests run the exact statements the code sends (captured from the connection) under EXPLAIN, with autovacuum off
so the "no statistics" state cannot change under the test, then again after ANALYZE.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.pipeline import linking, store
from tests.pipeline.conftest import Env

EVENTS = 20_000
FINGERPRINTS = 5_000
T = TypeVar("T")


def executed(session: Session, call: Callable[[], T]) -> tuple[T, list[tuple[str, Any]]]:
    """What `call` returned, and the SQL and parameters it sent through the session's connection as the driver
    received them."""
    conn = session.connection()
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", hook)
    try:
        result = call()
    finally:
        sa.event.remove(conn, "before_cursor_execute", hook)
    return result, seen


def pg_scans(session: Session, statement: str, parameters: Any) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every scan node of the statement's PostgreSQL plan."""
    raw = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
    plan = orjson.loads(raw) if isinstance(raw, str | bytes) else raw

    def walk(node: dict[str, Any]) -> Iterator[tuple[str, str | None, str | None]]:
        if "Relation Name" in node or "Index Name" in node:
            yield node["Node Type"], node.get("Relation Name"), node.get("Index Name")
        for child in node.get("Plans", []):
            yield from walk(child)

    return list(walk(plan[0]["Plan"]))


def sqlite_plan(session: Session, statement: str, parameters: Any) -> str:
    rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _fill(session: Session, project_id: int) -> None:
    """Many events of one project and many fingerprints, in bulk (generate_series: a second, not a minute)."""
    issue_id = uuid.uuid4()
    session.execute(
        sa.text(
            "INSERT INTO issues (id, project_id, created_at, status, occurrences, users) "
            "VALUES (:i, :p, now(), 'active', 0, 0)"
        ),
        {"i": issue_id, "p": project_id},
    )
    session.execute(
        sa.text(
            "INSERT INTO events (uuid, project_id, issue_id, fingerprint, timestamp, received_at, properties) "
            "SELECT gen_random_uuid(), :p, :i, 'fp' || (g % 50), CAST(:now AS timestamptz) - g * interval '1 second', "
            "CAST(:now AS timestamptz), "
            "'{}'::jsonb FROM generate_series(1, :n) g"
        ),
        {"p": project_id, "i": issue_id, "n": EVENTS, "now": dt.datetime.now(dt.UTC)},
    )
    session.execute(
        sa.text(
            "INSERT INTO issue_fingerprints (id, project_id, issue_id, fingerprint, version, first_seen, created_at) "
            "SELECT gen_random_uuid(), :p, :i, 'fp' || g, 0, now(), now() FROM generate_series(1, :n) g"
        ),
        {"p": project_id, "i": issue_id, "n": FINGERPRINTS},
    )


@pytest.mark.postgres
def test_postgres_batch_lookups_probe_the_unique_indexes_with_or_without_statistics(pg_env: Env) -> None:
    db, project_id = pg_env.db, pg_env.project_id
    with db.write() as session:
        # `events` is partitioned (migration 0015): storage parameters belong to its partitions.
        partitions = session.execute(
            sa.text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")
        ).scalars()
        for table in (*partitions, "issue_fingerprints", "issues"):
            session.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        _fill(session, project_id)
    with db.read() as session:
        stored = [r[0] for r in session.execute(sa.text("SELECT uuid FROM events ORDER BY id LIMIT 100"))]
    batch = stored + [uuid.uuid4() for _ in range(400)]
    fingerprints = [f"fp{i}" for i in range(2, 1002, 2)] + [f"new{i}" for i in range(100)]

    for analysed in (False, True):
        if analysed:
            with db.write() as session:
                session.execute(sa.text("ANALYZE"))
        with db.read() as session:
            now = dt.datetime.now(dt.UTC)  # the product's clock, which made the day partitions (migration 0015)
            found, sent = executed(session, lambda s=session, t=now: store.existing_uuids(s, project_id, batch, [t]))
            assert found == set(stored)
            assert len(sent) == 1
            scans = [(rel, index) for _, rel, index in pg_scans(session, *sent[0]) if rel and rel.startswith("events")]
            # Only the day partitions around the batch's timestamps (migration 0015), each holding events through its
            # unique index (an analysed empty day may be read as it is: there is nothing to read).
            assert 1 <= len(scans) <= 3, scans
            assert any(index for _, index in scans), scans
            for rel, index in scans:
                assert re.fullmatch(r"events_p\d{8}", rel), scans
                empty = session.execute(sa.text(f"SELECT NOT EXISTS (SELECT 1 FROM {rel})")).scalar_one()
                assert index == f"{rel}_uuid_project_id_timestamp_key" or (analysed and empty), (analysed, scans)

            refs, sent = executed(session, lambda s=session: linking.lookup(s, project_id, fingerprints))
            assert len(refs) == 500
            assert len(sent) == 2  # fingerprints are probed in chunks of 500
            for statement in sent:
                scans = pg_scans(session, *statement)
                fingerprint_scans = [(node, index) for node, rel, index in scans if rel == "issue_fingerprints"]
                assert fingerprint_scans == [("Index Scan", "uq_issue_fingerprints_project_id_fingerprint")], (
                    analysed,
                    scans,
                )


def test_sqlite_batch_lookups_search_the_unique_indexes(env: Env) -> None:
    """SQLite has no LATERAL; without ANALYZE its planner still picks the index with the most equality terms."""
    with env.db.read() as session:
        _, sent = executed(session, lambda: store.existing_uuids(session, env.project_id, [uuid.uuid4()] * 3))
        plan = sqlite_plan(session, *sent[0])
        assert re.search(
            r"SEARCH events USING COVERING INDEX sqlite_autoindex_events_\d \(project_id=\? AND uuid=\?\)", plan
        )
        _, sent = executed(session, lambda: linking.lookup(session, env.project_id, ["a", "b"]))
        plan = sqlite_plan(session, *sent[0])
        assert re.search(r"SEARCH issue_fingerprints USING INDEX \w+ \(project_id=\? AND fingerprint=\?\)", plan), plan
