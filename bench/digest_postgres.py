"""Digest throughput into PostgreSQL with many stored events and no table statistics.

    .venv/bin/python bench/digest_postgres.py [--stored 128000] [--events 3000] [--dsn postgresql://postgres@127.0.0.1/test]

A fresh database gets `--stored` events of one project (plus 20,000 fingerprints) by bulk SQL, autovacuum off so
the tables stay un-analysed, like a new install before autovacuum's first pass. Then `--events` new posthog-python
events are digested in batches of 500 through the real worker, twice: with the per-batch lookups as they are
(unique-index probes, `faultline.db.where_key_in`) and with the plain `project_id = ? AND key IN (…)` they replaced
(the baseline, measured in the same run). Both again after ANALYZE. The ratio is the fix's effect.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import make_events  # noqa: E402


@contextlib.contextmanager
def fresh_database(dsn: str) -> Iterator[str]:
    name = f"faultline_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = dsn.rsplit("/", 1)[0]
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plain_in_lookups() -> dict[str, Any]:
    """The lookups as they were before `where_key_in`: what the planner got to see without statistics."""
    from faultline.issues.models import Event, Issue, IssueFingerprint
    from faultline.pipeline import linking

    def existing_uuids(session: Any, project_id: int, uuids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        table = Event.__table__
        stmt = sa.select(table.c.uuid).where(table.c.project_id == project_id, table.c.uuid.in_(list(uuids)))
        return {r[0] for r in session.execute(stmt)}

    def lookup(session: Any, project_id: int, fingerprints: Sequence[str]) -> dict[str, Any]:
        fp, issue = IssueFingerprint.__table__, Issue.__table__
        rows = session.execute(
            sa.select(fp.c.fingerprint, issue.c.id, issue.c.status, issue.c.name, issue.c.description, issue.c.severity)
            .join(issue, issue.c.id == fp.c.issue_id)
            .where(fp.c.project_id == project_id, fp.c.fingerprint.in_(list(fingerprints)))
        )
        return {r[0]: linking.IssueRef(r[1], r[2], r[3], r[4], r[5]) for r in rows}

    return {"existing_uuids": existing_uuids, "lookup": lookup}


@contextlib.contextmanager
def lookups(kind: str) -> Iterator[None]:
    from faultline.pipeline import linking, store

    if kind == "unique-index probes":
        yield
        return
    saved = store.existing_uuids, linking.lookup
    replaced = plain_in_lookups()
    store.existing_uuids, linking.lookup = replaced["existing_uuids"], replaced["lookup"]
    try:
        yield
    finally:
        store.existing_uuids, linking.lookup = saved


def digest_rate(db: Any, project_id: int, n_events: int, tmp: Path) -> float:
    from faultline.ingest.posthog_body import queue_payload
    from faultline.ingest.queue.sqlite import SQLiteQueue
    from faultline.pipeline.digest import Pipeline
    from faultline.pipeline.worker import Worker

    now = dt.datetime.now(dt.UTC)
    payloads = [queue_payload(e, sent_at=None, received_at=now) for e in make_events(n_events)]
    queue = SQLiteQueue(tmp / f"queue-{uuid.uuid4().hex}.db")
    try:
        for i in range(0, n_events, 1000):
            queue.put([(project_id, p) for p in payloads[i : i + 1000]])
        worker = Worker(db, queue, Pipeline(db), batch_size=500)
        start = time.perf_counter()
        done = worker.run_until_empty(timeout=3600)
        return done / (time.perf_counter() - start)
    finally:
        queue.close()


def check_ms(db: Any, project_id: int, existing: Sequence[uuid.UUID], rounds: int = 20) -> float:
    """Milliseconds per duplicate check of one batch (100 stored uuids + 400 new ones)."""
    from faultline.pipeline import store

    start = time.perf_counter()
    with db.read() as session:
        for i in range(rounds):
            batch = list(existing[i * 100 : (i + 1) * 100]) + [uuid.uuid4() for _ in range(400)]
            store.existing_uuids(session, project_id, batch)
    return (time.perf_counter() - start) * 1000 / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=128_000)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    from faultline import migrate
    from faultline.accounts import service as accounts
    from faultline.db import Database

    with fresh_database(args.dsn) as url, tempfile.TemporaryDirectory() as tmp:
        db = Database(url)
        migrate.upgrade(db.engine)
        with db.write() as session:
            org = accounts.create_organization(session, "Bench")
            project_id = accounts.create_project(session, org, "bench").id
            for table in ("events", "issue_fingerprints", "issues", "issue_users", "stack_frames"):
                session.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        # Realistic rows: digest a few real events, then copy them (fresh uuids) up to --stored in bulk SQL.
        seed = min(1000, args.stored)
        digest_rate(db, project_id, seed, Path(tmp))
        with db.write() as session:
            session.execute(
                sa.text(
                    "INSERT INTO events (uuid, project_id, issue_id, fingerprint, timestamp, received_at, distinct_id, "
                    "lib, lib_version, level, properties) "
                    "SELECT gen_random_uuid(), e.project_id, e.issue_id, e.fingerprint, "
                    "e.timestamp - g * interval '1 second', e.received_at, e.distinct_id, e.lib, e.lib_version, "
                    "e.level, e.properties FROM events e, generate_series(1, :copies) g"
                ),
                {"copies": max(0, args.stored // seed - 1)},
            )
            issue_id = session.execute(sa.text("SELECT issue_id FROM events LIMIT 1")).scalar_one()
            session.execute(
                sa.text(
                    "INSERT INTO issue_fingerprints (id, project_id, issue_id, fingerprint, version, first_seen, "
                    "created_at) SELECT gen_random_uuid(), :p, :i, 'old' || g, 0, now(), now() "
                    "FROM generate_series(1, 20000) g"
                ),
                {"p": project_id, "i": issue_id},
            )
            stored = session.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
            size = session.execute(sa.text("SELECT pg_size_pretty(pg_table_size('events'))")).scalar_one()
        print(f"digest into PostgreSQL, {stored:,} stored events ({size}), batches of 500, {args.events:,} new events")
        for stats in ("no statistics", "after ANALYZE"):
            if stats == "after ANALYZE":
                with db.write() as session:
                    session.execute(sa.text("ANALYZE"))
            with db.read() as session:
                existing = [
                    r[0] for r in session.execute(sa.text("SELECT uuid FROM events ORDER BY random() LIMIT 2000"))
                ]
            rates, checks = {}, {}
            for kind in ("plain IN (before)", "unique-index probes"):
                with lookups(kind):
                    checks[kind] = check_ms(db, project_id, existing)
                    rates[kind] = digest_rate(db, project_id, args.events, Path(tmp))
                print(
                    f"    [{stats}] {kind}: duplicate check {checks[kind]:.1f} ms per batch; "
                    f"digest {rates[kind]:,.0f} events/s"
                )
            before, after = "plain IN (before)", "unique-index probes"
            print(
                f"    [{stats}] after/before: duplicate check {checks[before] / checks[after]:.0f}x faster, "
                f"digest {rates[after] / rates[before]:.1f}x"
            )
        db.dispose()


if __name__ == "__main__":
    main()
