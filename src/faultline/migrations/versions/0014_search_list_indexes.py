"""Issue search: field terms answered by the index alone; PostgreSQL matches a stored lowercased document and
walks the list's default order from an index.

Until now the search document was one text per issue (six columns joined), so a field term could only be narrowed
by the index and then tested with LIKE on its column for every candidate — with 10 000 candidates that test, and the
`issues` rows it reads, was most of the request.

* SQLite: the FTS5 table `issue_search` gets three columns instead of one — `body` (name, description, exception
  types and values), `functions` and `sources` (the frame function / file names) — each ASCII-lowercased, so a
  field term is the FTS5 column filter `functions : "…"` and an unrestricted term matches in any column, exactly
  as before (a term never spans two columns: terms containing the newline that separated them are not indexed).
  The insert and text-change triggers are re-created for the three columns (the status and delete triggers only
  name the rowid and stay) and the table is rebuilt from `issues`.
* PostgreSQL: a stored generated column `issues.search_text` = lower(the six-column document), and the GIN trigram
  index `ix_issues_search_trgm` on it instead of on the expression. A plain term is then `search_text LIKE
  lower(pattern)` — what `document ILIKE pattern` computes (PostgreSQL's ILIKE lowers both sides), without
  concatenating and lowercasing six columns for every row it tests: 192 → 32 ms to test 100 000 issues on the
  bench data, and the same per candidate when the index narrows. Where pg_trgm exists, GIN trigram indexes on
  `exception_functions` and `exception_sources` serve `file:` / `function:` terms (ILIKE on the one column)
  instead of the document index plus a per-row recheck. Without pg_trgm the column is still added (scans get
  faster) and a warning names the statements to run later.
* PostgreSQL: (project_id, last_seen DESC NULLS LAST, id DESC) and the same after status — the list's default
  order exactly as it is written there (`faultline.issues.queries._ordering`: NULLs last, ties by id). The
  (project_id, [status,] last_seen) B-trees cannot give that order (NULLs sort the other way and the tie-break is
  missing), so PostgreSQL sorted every issue of the project for each page: 44 ms for the bench's 100 000 issues,
  0.3 ms walking this index; a large search's page (36 735 matches) 62 → 0.7 ms. Ascending lists walk them
  backwards. SQLite's NULL order already matches its indexes, so these exist on PostgreSQL only.

Revision ID: 0014_search_list_indexes
Revises: 0013_time_zone_invites
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0014_search_list_indexes"
down_revision = "0013_time_zone_invites"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

_TEXT = ("name", "description", "exception_types", "exception_values")
_FIELDS = ("exception_functions", "exception_sources")
_ALL = (*_TEXT, *_FIELDS)

# PostgreSQL: the lowercased search document as a stored column, its trigram index, the frame columns' indexes.
_PG_DOCUMENT = "(" + " || E'\\n' || ".join(f"coalesce({c}, '')" for c in _ALL) + ")"
PG_COLUMN = f"ALTER TABLE issues ADD COLUMN search_text text GENERATED ALWAYS AS (lower({_PG_DOCUMENT})) STORED"
PG_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_issues_search_trgm ON issues USING gin (search_text gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_issues_functions_trgm ON issues USING gin (exception_functions gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_issues_sources_trgm ON issues USING gin (exception_sources gin_trgm_ops)",
)
PG_ORDER_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_issues_project_last_seen_order ON issues "
    "(project_id, last_seen DESC NULLS LAST, id DESC)",
    "CREATE INDEX IF NOT EXISTS ix_issues_project_status_last_seen_order ON issues "
    "(project_id, status, last_seen DESC NULLS LAST, id DESC)",
)
# Migration 0011's index on the expression, for the downgrade.
PG_EXPRESSION_INDEX = f"CREATE INDEX ix_issues_search_trgm ON issues USING gin ({_PG_DOCUMENT} gin_trgm_ops)"


def _lower(columns: tuple[str, ...], table: str) -> str:
    return "lower(" + " || char(10) || ".join(f"coalesce({table}.{c}, '')" for c in columns) + ")"


def _split_values(table: str) -> str:
    return ", ".join(_lower(part, table) for part in (_TEXT, ("exception_functions",), ("exception_sources",)))


def _split_triggers() -> tuple[str, str]:
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _ALL)
    insert = f"""CREATE TRIGGER issue_search_insert AFTER INSERT ON issues BEGIN
  INSERT INTO issue_search_rows (issue_id, project_id, status) VALUES (new.id, new.project_id, new.status);
  INSERT INTO issue_search (rowid, body, functions, sources)
    VALUES ((SELECT key FROM issue_search_rows WHERE issue_id = new.id), {_split_values("new")});
END"""
    text = f"""CREATE TRIGGER issue_search_text AFTER UPDATE OF {", ".join(_ALL)} ON issues
WHEN {changed} BEGIN
  UPDATE issue_search SET (body, functions, sources) = ({_split_values("new")})
    WHERE rowid = (SELECT key FROM issue_search_rows WHERE issue_id = new.id);
END"""
    return insert, text


def _single_triggers() -> tuple[str, str]:
    """Migration 0011's triggers (one six-column body), for the downgrade."""
    new, old = _lower(_ALL, "new"), _lower(_ALL, "old")
    insert = f"""CREATE TRIGGER issue_search_insert AFTER INSERT ON issues BEGIN
  INSERT INTO issue_search_rows (issue_id, project_id, status) VALUES (new.id, new.project_id, new.status);
  INSERT INTO issue_search (rowid, body)
    VALUES ((SELECT key FROM issue_search_rows WHERE issue_id = new.id), {new});
END"""
    text = f"""CREATE TRIGGER issue_search_text AFTER UPDATE OF {", ".join(_ALL)} ON issues
WHEN {old} IS NOT {new} BEGIN
  UPDATE issue_search SET body = {new}
    WHERE rowid = (SELECT key FROM issue_search_rows WHERE issue_id = new.id);
END"""
    return insert, text


def _rebuild_sqlite(conn: sa.Connection, *, split: bool) -> None:
    if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'issue_search'").first() is None:
        return  # no trigram FTS5 in this SQLite: search scans (migration 0009)
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_search_insert")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_search_text")
    conn.exec_driver_sql("DROP TABLE issue_search")
    columns = "body, functions, sources" if split else "body"
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE issue_search USING fts5({columns}, tokenize = 'trigram case_sensitive 1', "
        "detail = 'full')"
    )
    values = _split_values("i") if split else _lower(_ALL, "i")
    conn.exec_driver_sql(
        f"INSERT INTO issue_search (rowid, {columns}) SELECT r.key, {values} "
        "FROM issue_search_rows r JOIN issues i ON i.id = r.issue_id"
    )
    # One b-tree per trigram instead of the many segments a bulk insert leaves (faster queries).
    conn.exec_driver_sql("INSERT INTO issue_search (issue_search) VALUES ('optimize')")
    for trigger in _split_triggers() if split else _single_triggers():
        conn.exec_driver_sql(trigger)


def _has_trgm(conn: sa.Connection) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is not None


def _upgrade_postgresql(conn: sa.Connection) -> None:
    for statement in PG_ORDER_INDEXES:
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_issues_search_trgm")
    conn.exec_driver_sql(PG_COLUMN)
    if not _has_trgm(conn):
        log.warning(
            "the issue search indexes (pg_trgm) are missing, so issue search scans. To add them later, run as a "
            "superuser in this database: CREATE EXTENSION IF NOT EXISTS pg_trgm; %s; ANALYZE issues;",
            "; ".join(PG_INDEXES),
        )
        return
    for statement in PG_INDEXES:
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql("ANALYZE issues")


def _downgrade_postgresql(conn: sa.Connection) -> None:
    for index in (*PG_INDEXES, *PG_ORDER_INDEXES):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.split()[5]}")
    conn.exec_driver_sql("ALTER TABLE issues DROP COLUMN search_text")
    if _has_trgm(conn):
        conn.exec_driver_sql(PG_EXPRESSION_INDEX)
        conn.exec_driver_sql("ANALYZE issues")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite(conn, split=True)
    elif conn.dialect.name == "postgresql":
        _upgrade_postgresql(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite(conn, split=False)
    elif conn.dialect.name == "postgresql":
        _downgrade_postgresql(conn)
