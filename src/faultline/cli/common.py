"""What every command shares: loading the configuration and opening the database, each failing with one line.

Start-up problems (bad configuration, unreachable database) end with one line on stderr and exit code 2, never a
traceback: the person reading it is setting the server up, not debugging it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url

from faultline import migrate
from faultline.config import ConfigError, Settings, load_settings
from faultline.db import Database

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    typer.echo(f"faultline: error: {message}", err=True)
    raise typer.Exit(code=2)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def require_existing_database(settings: Settings) -> None:
    """Commands that read or change an existing server's data (`createuser`, `projects`, …) must not create an empty
    database because they were run from another directory (the default data directory is `./data`): they refuse,
    saying where they looked and how to point them at the server's data."""
    path = sqlite_path(settings.database_url)
    if path is None or path.exists():
        return
    fail(
        f"no database at {path.resolve()}: run this command in the directory you started `faultline serve` in, "
        "or point it at the server's data with FAULTLINE_DATA_DIR=/path/to/data (or FAULTLINE_DATABASE_URL)"
    )


@contextmanager
def database(
    settings: Settings, *, migrate_first: bool = True, create: bool = True, migrate_in_child: bool = False
) -> Iterator[Database]:
    """The configured database, migrated to the newest revision unless `migrate_first` is False; disposed after.
    With `create=False` a missing SQLite file ends the command instead of being created empty. Long-running
    commands pass `migrate_in_child` so that Alembic is never loaded into them (`faultline.migrate`)."""
    if not create:
        require_existing_database(settings)
    try:
        db = Database(settings.database_url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        fail(f"FAULTLINE_DATABASE_URL={safe_url(settings.database_url)} is not usable: {exc}")
    try:
        if migrate_first and migrate_in_child:
            try:
                migrate.upgrade_in_child(settings.database_url)
            except migrate.MigrationFailed as exc:
                if exc.refused:
                    fail(f"cannot use database {safe_url(settings.database_url)}: {exc}")
                fail(f"migrating database {safe_url(settings.database_url)} failed:\n{exc}")
        elif migrate_first:
            guard(lambda: migrate.upgrade(db.engine), settings)
        yield db
    finally:
        db.dispose()


def guard(action: Callable[[], T], settings: Settings) -> T:
    """Run `action`; an unreachable or refusing database ends the command with one line."""
    try:
        return action()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        fail(f"cannot use database {safe_url(settings.database_url)}: {reason}")
