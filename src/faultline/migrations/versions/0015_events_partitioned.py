"""PostgreSQL: `events` partitioned by day of the event's timestamp, so age retention drops whole days.

Deleting a day of events row by row writes every row's index entries and leaves the table to vacuum; detaching and
dropping that day's partition costs the same whatever the day held. SQLite is unchanged (one file, no partitions).

* `events` becomes `PARTITION BY RANGE ("timestamp")` with one partition per UTC day, `events_pYYYYMMDD`, and a
  DEFAULT partition `events_default` for timestamps no day partition covers yet. The retention pass
  (`faultline.retention.partitions`) creates the coming days' partitions ahead of time, moves rows of a day out of
  the default partition when it creates that day, and detaches and drops days past `FAULTLINE_RETENTION_DAYS`.
* A partitioned table's unique keys must contain the partition key: the primary key becomes (id, timestamp) and
  the idempotency key (project_id, uuid) becomes (uuid, project_id, timestamp). The digest's duplicate check still
  looks a uuid up in the days around the batch (an SDK retry's timestamp moves by the change in clock-skew
  correction), and a redelivered event carries the timestamp it was stored with. The uuid leads the key because
  that check bounds the timestamp to prune partitions: with (project_id, …) first, a partition without statistics
  is read through (project_id, timestamp), every event of the project in the window per uuid.
* The rows are copied: partitions are made for every day the existing events cover in the last
  `BACKFILL_DAYS` days and the next `AHEAD_DAYS`; older or later rows go to the default partition.

Downgrade copies the rows back into one table (keeping the first row of a uuid stored on two timestamps).

Revision ID: 0015_events_partitioned
Revises: 0014_search_list_indexes
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0015_events_partitioned"
down_revision = "0014_search_list_indexes"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 400
AHEAD_DAYS = 3

_INDEXES = (
    ("ix_events_issue_timestamp", 'issue_id, "timestamp"'),
    ("ix_events_project_fingerprint", "project_id, fingerprint"),
    ("ix_events_project_pinned_timestamp", 'project_id, pinned, "timestamp"'),
    ("ix_events_project_timestamp", 'project_id, "timestamp"'),
)


def _sequence(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SELECT pg_get_serial_sequence('events', 'id')").scalar_one())


def _constraints(*, primary: str, unique: str) -> None:
    """Keys, foreign keys and indexes of `events` (created on a partitioned table they reach every partition)."""
    op.execute(f"ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY ({primary})")
    name = "uq_events_" + "_".join(column.strip(' "') for column in unique.split(","))
    op.execute(f"ALTER TABLE events ADD CONSTRAINT {name} UNIQUE ({unique})")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT fk_events_issue_id_issues FOREIGN KEY (issue_id) REFERENCES issues (id)"
    )
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT fk_events_project_id_projects FOREIGN KEY (project_id) "
        "REFERENCES projects (id) ON DELETE CASCADE"
    )
    for index, columns in _INDEXES:
        op.execute(f"CREATE INDEX {index} ON events ({columns})")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    sequence = _sequence(conn)
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")  # it outlives the old table
    op.execute('CREATE TABLE events_new (LIKE events INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp")')
    op.execute("CREATE TABLE events_default PARTITION OF events_new DEFAULT")
    today = dt.datetime.now(dt.UTC).date()  # the product's clock, as retention's (never the database's)
    stored = conn.execute(
        sa.text(
            "SELECT DISTINCT (\"timestamp\" AT TIME ZONE 'UTC')::date FROM events "
            'WHERE "timestamp" >= :since AND "timestamp" < :until'
        ),
        {
            "since": dt.datetime.combine(today - dt.timedelta(days=BACKFILL_DAYS), dt.time(), dt.UTC),
            "until": dt.datetime.combine(today + dt.timedelta(days=AHEAD_DAYS + 1), dt.time(), dt.UTC),
        },
    ).scalars()
    days = set(stored) | {today + dt.timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)}
    for day in sorted(days):
        end = day + dt.timedelta(days=1)
        op.execute(
            f"CREATE TABLE events_p{day:%Y%m%d} PARTITION OF events_new "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{end.isoformat()} 00:00:00+00')"
        )
    op.execute("INSERT INTO events_new SELECT * FROM events")
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events_new RENAME TO events")
    _constraints(primary='id, "timestamp"', unique='uuid, project_id, "timestamp"')
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY events.id")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    sequence = _sequence(conn)
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("CREATE TABLE events_plain (LIKE events INCLUDING DEFAULTS)")
    op.execute(
        "INSERT INTO events_plain SELECT DISTINCT ON (project_id, uuid) * FROM events ORDER BY project_id, uuid, id"
    )
    op.execute("DROP TABLE events")  # with its partitions
    # Days detached by retention but not yet dropped (a pass stopped between the two steps) go with it.
    for (name,) in conn.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '^events_p[0-9]{8}$'"
    ).all():
        op.execute(f"DROP TABLE {name}")
    op.execute("ALTER TABLE events_plain RENAME TO events")
    _constraints(primary="id", unique="project_id, uuid")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY events.id")
