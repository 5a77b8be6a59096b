"""Issue search: a case-insensitive substring match over name, description, exception types and values.

Semantics are those of `LIKE '%term%'` on each column (ASCII case folding on SQLite, full Unicode folding with ILIKE
on PostgreSQL); the indexes of migration 0009 only make it fast:

* SQLite: the FTS5 trigram table `issue_search` holds one ASCII-lowercased document per issue (the four columns
  joined by newlines) with a case-sensitive tokenizer, so "the lowercased term is a substring of the document"
  — what the index answers — is exactly what the per-column LIKE answers. Counting matches uses the index and the
  narrow `issue_search_rows` table (project and status); a page of a large result is an index walk in the requested
  order that tests LIKE row by row and stops after one page.
* PostgreSQL: ILIKE over the same document expression, which the pg_trgm GIN index serves.

Terms the trigram index cannot serve — shorter than three characters, or containing the newline that separates
columns — use the per-column scan, as before the index existed: the same answer, just slower.
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.issues.models import Issue

MIN_INDEXED_LENGTH = 3
SEPARATOR = "\n"

# The FTS table and its row map exist on SQLite only (raw DDL in migration 0009), so they are not ORM models.
search_rows = sa.table(
    "issue_search_rows",
    sa.column("key", sa.Integer),
    sa.column("issue_id", sa.Uuid),
    sa.column("project_id", sa.Integer),
    sa.column("status", sa.String),
)
search_fts = sa.table("issue_search", sa.column("rowid", sa.Integer))

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SQLITE_INDEX: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


def indexable(term: str) -> bool:
    return len(term) >= MIN_INDEXED_LENGTH and SEPARATOR not in term


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def column_match(dialect: str, term: str) -> sa.ColumnElement[bool]:
    """The definition of a match: the term in any one of the four columns."""
    pattern = like_pattern(term)
    columns = (Issue.name, Issue.description, Issue.exception_types, Issue.exception_values)
    # SQLite's LIKE is already case-insensitive (for ASCII, exactly as its lower() is); wrapping four columns per
    # row in lower() made a 100 000-issue scan 1.6x slower.
    if dialect == "postgresql":
        return sa.or_(*(column.ilike(pattern, escape="\\") for column in columns))
    return sa.or_(*(column.like(pattern, escape="\\") for column in columns))


def postgres_document() -> sa.ColumnElement[str]:
    """The expression migration 0009's GIN index is built on (it must stay textually identical)."""
    newline = sa.literal_column("E'\\n'")
    parts = [sa.func.coalesce(c, sa.literal_column("''")) for c in (Issue.name, Issue.description)]
    parts += [sa.func.coalesce(c, sa.literal_column("''")) for c in (Issue.exception_types, Issue.exception_values)]
    document: Any = parts[0]
    for part in parts[1:]:
        document = document.op("||")(newline).op("||")(part)
    return sa.type_coerce(document, sa.Text).self_group()


def match_clause(dialect: str, term: str) -> sa.ColumnElement[bool]:
    """WHERE term for the issues table; on PostgreSQL worded so that the trigram index applies."""
    if dialect == "postgresql" and indexable(term):
        return postgres_document().ilike(like_pattern(term), escape="\\")
    return column_match(dialect, term)


def fts_phrase(term: str) -> str:
    """An FTS5 phrase query for the ASCII-lowercased term (quotes doubled, everything else literal)."""
    return '"' + term.translate(_ASCII_LOWER).replace('"', '""') + '"'


def sqlite_index_ready(session: Session) -> bool:
    """Whether migration 0009 could build the FTS index (it is skipped on SQLite builds without trigram FTS5)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    ready = _SQLITE_INDEX.get(engine)
    if ready is None:
        ready = (
            session.execute(
                sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'issue_search'")
            ).first()
            is not None
        )
        _SQLITE_INDEX[engine] = ready
    return ready


def sqlite_matches(term: str) -> sa.Select[Any]:
    """FTS rows matching the term, joined to their issue ids, project and status (add filters on `search_rows`)."""
    # `rowid + 0`: the FTS table can then only be the outer loop of the join, read once by MATCH. Offered
    # `rowid = ?`, SQLite's planner may start from another table (an assignment filter's, say) and run the MATCH
    # once per row: 60 assigned issues cost 700 ms that way instead of 7.
    return (
        sa.select(search_rows.c.issue_id)
        .select_from(search_fts.join(search_rows, search_rows.c.key == search_fts.c.rowid + 0))
        .where(sa.literal_column("issue_search").op("MATCH")(fts_phrase(term)))
    )
