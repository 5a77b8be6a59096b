"""PostgreSQL day partitions of `events` (migration 0015): made ahead of time, dropped when past retention.

Each maintenance step is its own short transaction under one advisory lock (several processes run retention) with
a lock timeout, so a step that cannot get its locks gives up until the next pass instead of queueing the digest's
inserts behind it.

* **Making a day** creates the table, moves that day's rows out of the default partition (events that arrived
  before their day existed) and attaches it. Attaching locks only the default partition against writes.
* **Dropping a day** is two steps. Detaching takes a brief exclusive lock on `events` and nothing else, so it can
  never deadlock with a digest transaction, which locks `events` first and the project's usage row after. The
  detached table is then out of reach of inserts, so the second step reads exactly what it held per project,
  subtracts that from `project_storage` and drops it in one transaction. A pass that stops between the two steps
  leaves a detached day that the next pass finishes.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import sqlalchemy as sa

from faultline.db import Database
from faultline.retention import usage

log = logging.getLogger(__name__)

DEFAULT = "events_default"
DAY_TABLE = re.compile(r"^events_p(\d{8})$")
AHEAD_DAYS = 3  # days made ahead of today, so a day's events land in their partition from its first second
MOVE_DAYS_PER_PASS = 31  # days split out of the default partition per pass: bounds one pass's work
LOCK_TIMEOUT = "5s"
_LOCK_KEY = 0x6661756C74  # pg_advisory_xact_lock key of partition maintenance ("fault")


@dataclass
class PartitionReport:
    dropped: int = 0
    events: int = 0  # events removed with dropped days
    event_bytes: int = 0


def is_partitioned(db: Database) -> bool:
    if db.engine.dialect.name != "postgresql":
        return False
    with db.engine.connect() as conn:
        kind = conn.exec_driver_sql("SELECT relkind FROM pg_class WHERE oid = to_regclass('events')").scalar()
    return kind == "p"


def table_name(day: dt.date) -> str:
    return f"events_p{day:%Y%m%d}"


def _bound(day: dt.date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def attached_days(conn: sa.Connection) -> set[dt.date]:
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass"
    ).scalars()
    return {dt.datetime.strptime(m.group(1), "%Y%m%d").date() for n in names if (m := DAY_TABLE.match(n))}


def detached_days(conn: sa.Connection) -> list[str]:
    """Day tables that are no longer partitions of `events`: detached by a pass that stopped before dropping."""
    names = conn.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND relname ~ '^events_p[0-9]{8}$'"
    ).scalars()
    return sorted(names)


def days_in_default(conn: sa.Connection, since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    rows = conn.execute(
        sa.text(
            f"SELECT DISTINCT (\"timestamp\" AT TIME ZONE 'UTC')::date AS day FROM {DEFAULT} "
            'WHERE "timestamp" >= :since AND "timestamp" < :until ORDER BY day DESC LIMIT :n'
        ),
        {"since": since, "until": until, "n": MOVE_DAYS_PER_PASS},
    ).scalars()
    return list(rows)


def create_day(db: Database, day: dt.date) -> bool:
    """Make the day's partition (moving its rows out of the default partition); False if it already exists."""
    name, end = table_name(day), day + dt.timedelta(days=1)
    with db.write_engine.begin() as conn:
        _begin(conn)
        if day in attached_days(conn):
            return False
        conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)")
        conn.execute(
            sa.text(
                f'WITH moved AS (DELETE FROM {DEFAULT} WHERE "timestamp" >= :lo AND "timestamp" < :hi RETURNING *) '
                f"INSERT INTO {name} SELECT * FROM moved"
            ),
            {"lo": _start(day), "hi": _start(end)},
        )
        conn.exec_driver_sql(
            f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({_bound(day)}) TO ({_bound(end)})"
        )
    return True


def prepare(db: Database, now: dt.datetime, since: dt.datetime) -> int:
    """Partitions for yesterday through `AHEAD_DAYS` ahead, and for the days after `since` that have rows waiting in
    the default partition: how many were made."""
    today = now.astimezone(dt.UTC).date()
    with db.engine.connect() as conn:
        waiting = days_in_default(conn, since, _start(today + dt.timedelta(days=AHEAD_DAYS + 1)))
        existing = attached_days(conn)
    wanted = {today + dt.timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)} | set(waiting)
    made = 0
    for day in sorted(wanted - existing):
        try:
            made += create_day(db, day)
        except sa.exc.OperationalError as exc:  # lock timeout: the next pass tries again
            log.warning("could not create the events partition of %s now: %s", day, exc.orig)
    return made


def drop_before(db: Database, cutoff: dt.datetime) -> PartitionReport:
    """Detach and drop every day partition that ends at or before `cutoff`, keeping `project_storage` exact."""
    report = PartitionReport()
    with db.engine.connect() as conn:
        expired = [day for day in attached_days(conn) if _start(day + dt.timedelta(days=1)) <= cutoff]
    for day in sorted(expired):
        try:
            with db.write_engine.begin() as conn:
                _begin(conn)
                if day in attached_days(conn):
                    conn.exec_driver_sql(f"ALTER TABLE events DETACH PARTITION {table_name(day)}")
        except sa.exc.OperationalError as exc:
            log.warning("could not detach the events partition of %s now: %s", day, exc.orig)
    with db.engine.connect() as conn:
        leftovers = detached_days(conn)
    for name in leftovers:
        with db.write() as session:
            conn = session.connection()
            _begin(conn)
            per_project = conn.exec_driver_sql(
                f"SELECT project_id, count(*), coalesce(sum(size_bytes), 0) FROM {name} GROUP BY project_id"
            ).all()
            for project_id, events, event_bytes in per_project:
                usage.add(session, project_id, -int(event_bytes), -int(events))
                report.events += int(events)
                report.event_bytes += int(event_bytes)
            conn.exec_driver_sql(f"DROP TABLE {name}")
        report.dropped += 1
    return report
