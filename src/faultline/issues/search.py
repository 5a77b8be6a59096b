"""Issue search: ANDed terms, each a case-insensitive substring of the issue's text, plus user terms.

A text term (`faultline.issues.filters.TextTerm`: a word or a quoted phrase) matches when it is a substring of any
one of six columns: name, description, exception types, exception values, frame function names, frame file names
(`LIKE '%term%'` semantics: ASCII case folding on SQLite, full Unicode folding with ILIKE on PostgreSQL). A `file:` /
`function:` term must be in that one column. The indexes of migrations 0009 / 0011 / 0014 only make it fast:

* SQLite: the FTS5 trigram table `issue_search` holds per issue three ASCII-lowercased columns — `body` (name,
  description, exception types and values joined by newlines), `functions` and `sources` — with a case-sensitive
  tokenizer, so "the lowercased term is a substring of a column" — what the index answers — is exactly what the
  per-column LIKE answers. Several terms are one MATCH query (`"a" AND sources : "b"`: a field term is an FTS5
  column filter), answered by intersecting the terms' trigram lists. Every term is a quoted FTS5 string, so what
  users type (`AND`, `NEAR`, `*`, `-`, `:`, quotes) is literal text, never query syntax. Counting uses the index
  and the narrow `issue_search_rows` table (project and status); a page of a large result is an index walk in the
  requested order that tests LIKE row by row and stops after one page.
* PostgreSQL: LIKE per term over the stored lowercased document `issues.search_text` (migration 0014; the same
  answer as ILIKE over the columns), which the pg_trgm GIN index serves (the planner ANDs the terms' bitmaps); a
  field term is ILIKE on its column, served by that column's own trigram index.

Terms the trigram index cannot answer exactly — shorter than three characters or containing the newline that
separates columns — are tested per column on the rows the other terms leave (or on every row when no term is
indexable): the same answer, just slower. A user term is never in the document: it is an indexed lookup of
`issue_users.distinct_id`, or an event's `email` / `$set.email` property.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.issues.filters import TextTerm
from faultline.issues.models import Event, Issue, IssueUser
from faultline.issues.sanitize import is_storable

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
# The FTS5 column holding each field's text (migration 0014); unrestricted terms match in any column.
FTS_FIELD_COLUMNS = {"function": "functions", "file": "sources"}

# The search document's columns, in the order migration 0014's PostgreSQL column (and, split in three, SQLite's
# FTS columns) join them.
DOCUMENT_COLUMNS = (
    Issue.name,
    Issue.description,
    Issue.exception_types,
    Issue.exception_values,
    Issue.exception_functions,
    Issue.exception_sources,
)
FIELD_COLUMNS = {"function": Issue.exception_functions, "file": Issue.exception_sources}

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SQLITE_INDEX: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


def indexable(term: str) -> bool:
    return len(term) >= MIN_INDEXED_LENGTH and SEPARATOR not in term


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def index_exact(term: TextTerm) -> bool:
    """Whether the SQLite trigram index alone answers this term (no per-column test needed on what it returns):
    a field term too, through its FTS5 column filter."""
    return indexable(term.text)


def column_match(dialect: str, term: str) -> sa.ColumnElement[bool]:
    """The definition of a match: the term in any one of the six columns."""
    pattern = like_pattern(term)
    columns = DOCUMENT_COLUMNS
    # SQLite's LIKE is already case-insensitive (for ASCII, exactly as its lower() is); wrapping four columns per
    # row in lower() made a 100 000-issue scan 1.6x slower.
    if dialect == "postgresql":
        return sa.or_(*(column.ilike(pattern, escape="\\") for column in columns))
    return sa.or_(*(column.like(pattern, escape="\\") for column in columns))


def postgres_document() -> sa.ColumnElement[str]:
    """Migration 0014's stored column: the six columns joined by newlines, lowercased by PostgreSQL (its GIN trigram
    index is `ix_issues_search_trgm`). Not an ORM attribute: it exists on PostgreSQL only."""
    return sa.literal_column("issues.search_text", sa.Text)


def postgres_document_match(text: str) -> sa.ColumnElement[bool]:
    """`document ILIKE pattern` as PostgreSQL computes it (both sides lowered, then LIKE), with the document
    lowered once at write time instead of for every row tested."""
    return postgres_document().like(sa.func.lower(like_pattern(text)), escape="\\")


def field_match(dialect: str, term: TextTerm) -> sa.ColumnElement[bool]:
    """A `file:` / `function:` term: the text in that one column."""
    column = FIELD_COLUMNS[term.field]
    pattern = like_pattern(term.text)
    if dialect == "postgresql":
        return column.ilike(pattern, escape="\\")
    return column.like(pattern, escape="\\")


def match_clause(dialect: str, term: TextTerm) -> sa.ColumnElement[bool]:
    """WHERE term for the issues table; on PostgreSQL worded so that a trigram index applies (the document's for
    a plain term, the column's own — migration 0014 — for a field term)."""
    if term.field != "any":
        return field_match(dialect, term)
    if dialect == "postgresql" and SEPARATOR not in term.text:
        # Short terms too: no trigram to look up, but a scan of the pre-lowered document beats ILIKE over six
        # columns (bench: `ue` over 100 000 issues). Only a term spanning the separator needs the columns.
        return postgres_document_match(term.text)
    return column_match(dialect, term.text)


def user_clause(dialect: str, user: str) -> sa.ColumnElement[bool]:
    """Issues seen by this distinct id (the `issue_users` index), or — for an address — with an event whose
    `email` or `$set.email` property is it (like a `key:value` term, this one reads events)."""
    if not is_storable(user):
        return sa.false()
    # IN over the (distinct_id) index: the user's few rows, not a probe per issue of the project.
    seen = Issue.id.in_(sa.select(IssueUser.issue_id).where(IssueUser.distinct_id == user))
    if "@" not in user:
        return seen
    email = Event.properties["email"].as_string()
    set_email = Event.properties[("$set", "email")].as_string()
    if dialect != "postgresql":
        email, set_email = sa.cast(email, sa.Text), sa.cast(set_email, sa.Text)
    mailed = sa.exists().where(Event.issue_id == Issue.id, sa.or_(email == user, set_email == user))
    return sa.or_(seen, mailed)


def fts_phrase(term: str) -> str:
    """An FTS5 string for the ASCII-lowercased term (quotes doubled, everything else literal: `AND`, `NEAR`, `*`,
    `-`, `^`, `:` and parentheses inside a string are text, not query syntax)."""
    return '"' + term.translate(_ASCII_LOWER).replace('"', '""') + '"'


def fts_term(term: TextTerm) -> str:
    """One term of the MATCH expression: a field term limited to its FTS5 column (`sources : "app.py"`)."""
    if term.field == "any":
        return fts_phrase(term.text)
    return f"{FTS_FIELD_COLUMNS[term.field]} : {fts_phrase(term.text)}"


def fts_query(terms: Sequence[TextTerm]) -> str:
    """One MATCH expression ANDing every indexable term."""
    return " AND ".join(fts_term(term) for term in terms if indexable(term.text))


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


def sqlite_matches(terms: Sequence[TextTerm]) -> sa.Select[Any]:
    """FTS rows matching the indexable terms (at least one), joined to their issue ids, project and status (add
    filters on `search_rows`; test the other terms with `match_clause`)."""
    # `rowid + 0`: the FTS table can then only be the outer loop of the join, read once by MATCH. Offered
    # `rowid = ?`, SQLite's planner may start from another table (an assignment filter's, say) and run the MATCH
    # once per row: 60 assigned issues cost 700 ms that way instead of 7.
    return (
        sa.select(search_rows.c.issue_id)
        .select_from(search_fts.join(search_rows, search_rows.c.key == search_fts.c.rowid + 0))
        .where(sa.literal_column("issue_search").op("MATCH")(fts_query(terms)))
    )
