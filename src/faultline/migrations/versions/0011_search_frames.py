"""Issue search by function and file name and by user: two search columns, the search document rebuilt, a user index.

Columns (TEXT, nullable): issues.exception_functions / issues.exception_sources — the distinct function and file
names of the frames of the issue's exception chain (in-app frames first), newline-separated and capped like the
other search columns; written by the digest worker when it creates an issue, combined on merge, derived from the
newest event after a split. Existing issues are filled here from their newest event.

The search document of migration 0009 (`faultline.issues.search`) gains the two columns, so plain words match
function and file names too and `file:` / `function:` terms can be narrowed by the trigram index first:
* SQLite: the insert and text-change triggers are re-created with the six-column body and the FTS table rebuilt.
* PostgreSQL: the GIN trigram index is re-created on the six-column expression (where pg_trgm exists).

Index: issue_users (distinct_id) — `user:<distinct id>` starts from that user's rows instead of scanning every
issue's users.

Revision ID: 0011_search_frames
Revises: 0010_alerts
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_search_frames"
down_revision = "0010_alerts"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

COLUMN_MAX = 2000
_BATCH = 2000

_OLD_COLUMNS = ("name", "description", "exception_types", "exception_values")
_NEW_COLUMNS = (*_OLD_COLUMNS, "exception_functions", "exception_sources")


def _sqlite_body(columns: tuple[str, ...], table: str) -> str:
    return "lower(" + " || char(10) || ".join(f"coalesce({table}.{c}, '')" for c in columns) + ")"


def _pg_document(columns: tuple[str, ...]) -> str:
    return "(" + " || E'\\n' || ".join(f"coalesce({c}, '')" for c in columns) + ")"


def _pg_index(columns: tuple[str, ...]) -> str:
    return f"CREATE INDEX ix_issues_search_trgm ON issues USING gin ({_pg_document(columns)} gin_trgm_ops)"


def _sqlite_triggers(columns: tuple[str, ...]) -> tuple[str, str]:
    new, old = _sqlite_body(columns, "new"), _sqlite_body(columns, "old")
    insert = f"""CREATE TRIGGER issue_search_insert AFTER INSERT ON issues BEGIN
  INSERT INTO issue_search_rows (issue_id, project_id, status) VALUES (new.id, new.project_id, new.status);
  INSERT INTO issue_search (rowid, body)
    VALUES ((SELECT key FROM issue_search_rows WHERE issue_id = new.id), {new});
END"""
    text = f"""CREATE TRIGGER issue_search_text AFTER UPDATE OF {", ".join(columns)} ON issues
WHEN {old} IS NOT {new} BEGIN
  UPDATE issue_search SET body = {new}
    WHERE rowid = (SELECT key FROM issue_search_rows WHERE issue_id = new.id);
END"""
    return insert, text


def _join(parts: list[str]) -> str | None:
    kept: list[str] = []
    length = 0
    for part in parts:
        text = part.replace("\n", " ").replace("\x00", "").strip()
        if not text or text in kept:
            continue
        room = COLUMN_MAX - length - (1 if kept else 0)
        if room <= 0:
            break
        kept.append(text[:room])
        length += (1 if len(kept) > 1 else 0) + len(kept[-1])
    return "\n".join(kept) if kept else None


def _frame_columns(properties: Any) -> tuple[str | None, str | None]:
    if isinstance(properties, str):
        properties = json.loads(properties)
    chain = properties.get("$exception_list") if isinstance(properties, dict) else None
    frames: list[dict[str, Any]] = []
    for exc in chain if isinstance(chain, list) else []:
        stack = exc.get("stacktrace") if isinstance(exc, dict) else None
        found = stack.get("frames") if isinstance(stack, dict) else None
        frames.extend(f for f in (found if isinstance(found, list) else []) if isinstance(f, dict))
    ordered = [f for f in frames if f.get("in_app") is True] + [f for f in frames if f.get("in_app") is not True]
    functions = [f.get("resolved_name") or f.get("mangled_name") or f.get("function") for f in ordered]
    sources = [f.get("source") or f.get("filename") for f in ordered]
    return _join([n for n in functions if isinstance(n, str)]), _join([s for s in sources if isinstance(s, str)])


def _backfill(conn: sa.Connection) -> None:
    """Each issue's frame names from its newest stored event (by row id: the last one stored)."""
    newest = sa.text(
        "SELECT issue_id, properties FROM events WHERE id IN (SELECT max(id) FROM events GROUP BY issue_id)"
    )
    update = sa.text("UPDATE issues SET exception_functions = :f, exception_sources = :s WHERE id = :i")
    rows: list[dict[str, Any]] = []
    for issue_id, properties in conn.execute(newest):
        functions, sources = _frame_columns(properties)
        if functions or sources:
            rows.append({"f": functions, "s": sources, "i": issue_id})
        if len(rows) >= _BATCH:
            conn.execute(update, rows)
            rows = []
    if rows:
        conn.execute(update, rows)


def _rebuild_sqlite(conn: sa.Connection, columns: tuple[str, ...]) -> None:
    if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'issue_search'").first() is None:
        return  # no trigram FTS5 in this SQLite: search scans (migration 0009)
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_search_insert")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_search_text")
    conn.exec_driver_sql("DELETE FROM issue_search")
    conn.exec_driver_sql(
        f"INSERT INTO issue_search (rowid, body) SELECT r.key, {_sqlite_body(columns, 'i')} "
        "FROM issue_search_rows r JOIN issues i ON i.id = r.issue_id"
    )
    conn.exec_driver_sql("INSERT INTO issue_search (issue_search) VALUES ('optimize')")
    for trigger in _sqlite_triggers(columns):
        conn.exec_driver_sql(trigger)


def _rebuild_postgresql(conn: sa.Connection, columns: tuple[str, ...]) -> None:
    has_index = conn.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_issues_search_trgm'").first()
    if has_index is None:
        # pg_trgm was not available (migration 0009 warned): search scans. The index to add later is this one now.
        log.warning(
            "the issue search index (pg_trgm) is missing, so issue search scans. To add it later, run as a superuser "
            "in this database: CREATE EXTENSION IF NOT EXISTS pg_trgm; %s; ANALYZE issues;",
            _pg_index(columns),
        )
        return
    conn.exec_driver_sql("DROP INDEX ix_issues_search_trgm")
    conn.exec_driver_sql(_pg_index(columns))
    conn.exec_driver_sql("ANALYZE issues")


def upgrade() -> None:
    conn = op.get_bind()
    # Plain ADD COLUMN (no batch rebuild of `issues`, which would drop the search triggers).
    op.add_column("issues", sa.Column("exception_functions", sa.Text(), nullable=True))
    op.add_column("issues", sa.Column("exception_sources", sa.Text(), nullable=True))
    op.create_index("ix_issue_users_distinct_id", "issue_users", ["distinct_id"], unique=False)
    _backfill(conn)
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite(conn, _NEW_COLUMNS)
    elif conn.dialect.name == "postgresql":
        _rebuild_postgresql(conn, _NEW_COLUMNS)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        # The old triggers first: their text-change trigger must not name the columns about to be dropped.
        _rebuild_sqlite(conn, _OLD_COLUMNS)
    elif conn.dialect.name == "postgresql":
        _rebuild_postgresql(conn, _OLD_COLUMNS)
    op.drop_index("ix_issue_users_distinct_id", table_name="issue_users")
    # SQLite ≥ 3.35 drops a column in place; a batch rebuild of `issues` would lose the search triggers.
    for column in ("exception_sources", "exception_functions"):
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"ALTER TABLE issues DROP COLUMN {column}")
        else:
            op.drop_column("issues", column)
