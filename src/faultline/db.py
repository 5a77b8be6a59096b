"""Database engine, sessions and the column types shared by every domain.

One code path for SQLite and PostgreSQL. The differences that matter are handled here, once:

* SQLite allows one writer. Read transactions start with a plain (deferred) ``BEGIN`` so the API never waits on the
  digest worker, while write transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that later tries to
  write after another writer committed fails with ``SQLITE_BUSY`` *without* waiting for the busy timeout.
* Timestamps are always timezone-aware UTC in Python; SQLite stores them as naive UTC text that sorts correctly.
* JSON is JSONB on PostgreSQL and TEXT on SQLite, (de)serialised with orjson.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, whatever the backend stores."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.DateTime(timezone=False))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook (below) emit BEGIN itself; pysqlite's implicit transactions get in the way.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged digest commit survives power loss, not just a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("faultline_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        "future": True,
    }
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size * 2
        kwargs["poolclass"] = sa.pool.QueuePool
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size * 2
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


class Database:
    """Owns the engine and hands out read or write sessions.

    Domain services take a `Session`; the HTTP layer and the worker decide whether it is a read or a write one.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_db_engine(url, echo=echo, pool_size=pool_size)
        self._writer = self.engine.execution_options(faultline_write=True)
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=self._writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def write_engine(self) -> Engine:
        return self._writer  # type: ignore[return-value]

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any exception."""
        with self._write_sessions() as session, session.begin():
            yield session

    def session(self, *, write: bool) -> Session:
        return (self._write_sessions if write else self._read_sessions)()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def check_only(column: sa.orm.InstrumentedAttribute[int] | sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """An integer column for a WHERE term that no planner will answer from an index (`column + 0`).

    Once rows are narrowed by a selective key (one issue's events or fingerprints), the project condition is a
    safety check, not an access path. But without table statistics (SQLite never gathers them; a fresh PostgreSQL
    table has none) the planner reads the project's index instead of the issue's, above all when that index also
    gives the ORDER BY: 70-160 ms per query at 100 k issues, the issue page 0.5 s (bench/issue_page.py)."""
    return column + 0


def table_of(model: type[Any]) -> sa.Table:
    """A mapped class's Table, typed as one (SQLAlchemy types `Model.__table__` as a plain FromClause)."""
    return cast(sa.Table, model.__table__)


def insert_for(dialect_name: str, table: sa.Table) -> Any:
    """Dialect-specific INSERT so callers can use ``on_conflict_do_*`` on both backends."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@functools.cache
def excluded_of(table: sa.Table) -> Any:
    """The `excluded` pseudo-table of `INSERT … ON CONFLICT DO UPDATE` for `table`, built once per table.

    `Insert.excluded` is the same alias (`alias(table, name="excluded").columns`, on SQLite and PostgreSQL), but
    rebuilt for every statement: copying each column of the table into a proxy took ~0.5 ms per upsert, a fifth of a
    small digest batch's fixed cost (five upserts per batch; bench/routing.py --profile). The alias is immutable and
    renders the same SQL in any statement."""
    return sa.alias(table, name="excluded").columns


def upsert(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    index_elements: Sequence[str] | None,
    update: Sequence[str] = (),
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> sa.CursorResult[Any] | None:
    """Batch INSERT … ON CONFLICT: do nothing, or overwrite the `update` columns with the new values.
    `index_elements=None` (do nothing only) skips a row that conflicts with any unique key of the table."""
    if not rows:
        return None
    stmt = insert_for(session.get_bind().dialect.name, table)
    if update:
        assert index_elements is not None, "an update needs the key it updates on"
        stmt = stmt.on_conflict_do_update(
            index_elements=list(index_elements), set_={name: excluded_of(table)[name] for name in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=None if index_elements is None else list(index_elements))
    if returning:
        # "insertmanyvalues" gives RETURNING for executemany on both SQLite (3.35+) and psycopg.
        stmt = stmt.returning(*returning)
    return session.execute(stmt, list(rows))


def where_key_in(
    dialect_name: str, stmt: sa.Select[Any], key: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.Select[Any]:
    """`stmt` restricted to rows whose `key` is one of `values`, written so PostgreSQL probes the unique index on
    (`stmt`'s equality filters, `key`) once per value whatever its table statistics say.

    The plain `key IN (…)` is planned from statistics: on a table that was never analysed PostgreSQL guesses that
    `project_id = 1` keeps 0.5 % of the rows and `uuid IN (500 values)` nearly all of them, so it reads the whole
    project through any index leading with `project_id` and filters (the duplicate check then costs a full scan of
    the project per batch). A LATERAL subquery with LIMIT cannot be flattened into a hash join: each value becomes
    a parameterised probe `… AND key = keys.k`, which only the unique index answers in one descent. SQLite has no
    LATERAL, but its planner prefers the index matching the most equality terms without statistics, so the plain
    IN is what it gets.

    `stmt` must select from one row per key (a unique key); its result columns are kept.
    """
    if dialect_name != "postgresql":
        return stmt.where(key.in_(list(values)))
    keys = (
        sa.func.unnest(sa.bindparam("probe_keys", list(values), type_=postgresql.ARRAY(key.type)))
        .table_valued("k")
        .render_derived(name="keys")
    )
    probe = stmt.where(key == keys.c.k).limit(1).lateral("probe")
    return sa.select(*probe.c).select_from(keys).join(probe, sa.true())
