"""`faultline migrate`: apply (or roll back) database migrations."""

from __future__ import annotations

import typer

from faultline import migrate
from faultline.cli.common import database, guard, safe_url, settings_or_fail


def migrate_command(
    revision: str = typer.Option("head", help="Target revision (`head`, or an id from the migrations folder)."),
    downgrade: bool = typer.Option(False, help="Downgrade to the revision instead of upgrading."),
) -> None:
    """Apply database migrations (the server also does this on start)."""
    settings = settings_or_fail()
    with database(settings, migrate_first=False) as db:
        before = guard(lambda: migrate.current_revision(db.engine), settings)
        if downgrade:
            guard(lambda: migrate.downgrade(db.engine, revision), settings)
        else:
            guard(lambda: migrate.upgrade(db.engine, revision), settings)
        after = migrate.current_revision(db.engine)
    typer.echo(f"database {safe_url(settings.database_url)}: {before or 'empty'} -> {after or 'empty'}")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
