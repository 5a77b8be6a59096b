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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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


def insert_for(dialect_name: str, table: sa.Table) -> Any:
    """Dialect-specific INSERT so callers can use ``on_conflict_do_*`` on both backends."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    index_elements: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> sa.CursorResult[Any] | None:
    """Batch INSERT … ON CONFLICT: do nothing, or overwrite the `update` columns with the new values."""
    if not rows:
        return None
    stmt = insert_for(session.get_bind().dialect.name, table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(index_elements), set_={name: stmt.excluded[name] for name in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(index_elements))
    if returning:
        # "insertmanyvalues" gives RETURNING for executemany on both SQLite (3.35+) and psycopg.
        stmt = stmt.returning(*returning)
    return session.execute(stmt, list(rows))
