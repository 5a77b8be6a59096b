"""PostgreSQL age retention: dropping a day partition against deleting the same day's events in batches.

One fresh database per method, each holding the same `--days` old days of `--per-day` events (generated in SQL,
~1.2 KB of properties each) plus one recent day that stays. Then one retention pass with a cutoff after the old
days, timed: the partition way (migration 0015: detach, count, drop) and the batch way (the same pass told the
table is not partitioned, so it deletes `FAULTLINE_RETENTION_BATCH` rows per transaction, as SQLite does). Both
leave the same rows and an exact `project_storage`, which the bench checks.

    .venv/bin/python bench/partition_drop.py                 # 3 days × 50 000 events
    .venv/bin/python bench/partition_drop.py --per-day 10000 # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid

import psycopg
import sqlalchemy as sa

from faultline import migrate
from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.retention import partitions, usage
from faultline.retention.service import Policy, Retention

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def fill(db: Database, project_id: int, days: int, per_day: int) -> dt.datetime:
    """Old days' events and one recent day's, with their usage row; the day partitions made as retention would."""
    first = NOW - dt.timedelta(days=100)
    for n in range(days + 1):
        partitions.create_day(db, (first + dt.timedelta(days=n)).date())
    issue_id = uuid.uuid4()
    with db.write() as session:
        session.execute(
            sa.text(
                "INSERT INTO issues (id, project_id, created_at, status, occurrences, users) "
                "VALUES (:i, :p, now(), 'active', 0, 0)"
            ),
            {"i": issue_id, "p": project_id},
        )
        for day in [*(first + dt.timedelta(days=n) for n in range(days)), NOW - dt.timedelta(hours=1)]:
            session.execute(
                sa.text(
                    "INSERT INTO events (uuid, project_id, issue_id, fingerprint, timestamp, received_at, properties, "
                    "size_bytes) SELECT gen_random_uuid(), :p, :i, 'fp' || (g % 50), "
                    "date_trunc('day', CAST(:day AS timestamptz), 'UTC') + (g % 86400) * interval '1 second', "
                    "now(), jsonb_build_object('$exception_message', repeat('x', 1200), 'n', g), 1400 "
                    "FROM generate_series(1, :n) g"
                ),
                {"p": project_id, "i": issue_id, "day": day, "n": per_day},
            )
        total = (days + 1) * per_day
        usage.add(session, project_id, total * 1400, total)
    with db.write_engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE events")
    return first + dt.timedelta(days=days)


def run(admin_dsn: str, url_base: str, method: str, days: int, per_day: int, batch: int) -> tuple[float, int]:
    name = f"fl_partition_bench_{method}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    db = Database(f"{url_base}/{name}")
    try:
        migrate.upgrade(db.engine)
        with db.write() as session:
            project_id = accounts.create_project(session, accounts.create_organization(session, "Bench"), "web").id
        cutoff = fill(db, project_id, days, per_day)
        retention = Retention(db, Policy(retention_days=0, batch=batch), clock=lambda: NOW)
        if method == "batches":
            retention._partitioned = False
        started = time.perf_counter()
        if method == "partitions":
            deleted = partitions.drop_before(db, cutoff).events + retention.delete_older_than(cutoff)
        else:
            deleted = retention.delete_older_than(cutoff)
        seconds = time.perf_counter() - started
        with db.read() as session:
            left = session.execute(sa.text("SELECT count(*), coalesce(sum(size_bytes), 0) FROM events")).one()
            counted = usage.project_usage(session, project_id)
        assert (int(left[1]), int(left[0])) == counted == (per_day * 1400, per_day), (left, counted)
        return seconds, deleted
    finally:
        db.dispose()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="FAULTLINE_RETENTION_BATCH for the batch way")
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--url-base", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    results = {
        method: run(args.admin_dsn, args.url_base, method, args.days, args.per_day, args.batch)
        for method in ("batches", "partitions")
    }
    print(f"{args.days} old days × {args.per_day:,} events, PostgreSQL, one retention pass:")
    print(f"{'method':<12} {'events':>9} {'seconds':>9} {'events/s':>12}")
    for method, (seconds, deleted) in results.items():
        print(f"{method:<12} {deleted:>9,} {seconds:>9.3f} {deleted / seconds:>12,.0f}")
    ratio = results["batches"][0] / results["partitions"][0]
    print(f"partition drop is {ratio:,.0f}× faster than batch deletes")


if __name__ == "__main__":
    main()
