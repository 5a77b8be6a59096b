"""Schema migrations, callable from the CLI, the server's start-up and tests.

Alembic (and Mako under it) costs a long-running process ~10 MiB that it never gives back, for work done once at
start-up; so it is imported only inside the functions that use it, and `faultline serve` migrates in a short-lived
child process (`upgrade_in_child`) so the server itself never loads it.
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from faultline.db import create_db_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant: several servers starting at once against one PostgreSQL serialise their migrations on it.
_PG_LOCK_KEY = 0x6661756C74  # "fault"


def _serialise(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        _serialise(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        _serialise(conn)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


class MigrationFailed(Exception):
    """The child could not migrate. `refused`: the database refused or could not be reached, and the message is
    its own first line; otherwise the message is the child's traceback (a bug, not a setup problem)."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def _upgrade_and_report(url: str, pipe: Pipe) -> None:
    engine = create_db_engine(url, pool_size=1)
    try:
        upgrade(engine)
        pipe.send(None)
    except sa.exc.OperationalError as exc:
        orig = str(exc.orig).strip() if exc.orig else str(exc)
        pipe.send(("refused", (orig.splitlines() or [""])[0]))
    except BaseException:  # the child reports everything: the parent decides what to do
        pipe.send(("failed", traceback.format_exc()))
    finally:
        engine.dispose()
        pipe.close()


def upgrade_in_child(url: str) -> None:
    """Migrate the database at `url` to the newest revision in a forked child, so that this process never imports
    Alembic. Where `fork` is not available (Windows) it migrates here. Call before any thread is started."""
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        engine = create_db_engine(url, pool_size=1)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        return
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_upgrade_and_report, args=(url, send), name="faultline-migrate")
    child.start()
    send.close()
    try:
        report: tuple[str, str] | None = receive.recv()
    except EOFError:
        report = ("failed", "the migration process ended without a report")
    finally:
        receive.close()
    child.join()
    if report is None and child.exitcode != 0:
        report = ("failed", f"the migration process exited with code {child.exitcode}")
    if report is not None:
        raise MigrationFailed(report[1], refused=report[0] == "refused")
