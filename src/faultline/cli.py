"""The `faultline` command: serve, migrate and administer an installation.

Start-up problems (bad configuration, unreachable database) end with one line on stderr and exit code 2, never a
traceback: the person reading it is setting the server up, not debugging it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url

from faultline import __version__, migrate
from faultline.accounts import secrets as creds
from faultline.accounts import service as accounts
from faultline.accounts.models import MembershipLevel, Organization
from faultline.config import ConfigError, Settings, load_settings, markdown_table
from faultline.db import Database

app = typer.Typer(
    name="faultline",
    help="Faultline: self-hosted error tracking that speaks PostHog's Error Tracking API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
projects_app = typer.Typer(help="List or create projects.", invoke_without_command=True, no_args_is_help=False)
app.add_typer(projects_app, name="projects")

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    typer.echo(f"faultline: error: {message}", err=True)
    raise typer.Exit(code=2)


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


@contextmanager
def _database(settings: Settings, *, migrate_first: bool = True) -> Iterator[Database]:
    try:
        db = Database(settings.database_url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        fail(f"FAULTLINE_DATABASE_URL={_safe_url(settings.database_url)} is not usable: {exc}")
    try:
        if migrate_first:
            _guard(lambda: migrate.upgrade(db.engine), settings)
        yield db
    finally:
        db.dispose()


def _guard(action: Callable[[], T], settings: Settings) -> T:
    try:
        return action()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        fail(f"cannot use database {_safe_url(settings.database_url)}: {reason}")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"faultline {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Configuration comes from FAULTLINE_* environment variables; see `faultline config`."""


def _print_banner(settings: Settings, created: accounts.Bootstrap | None) -> None:
    lines = [f"Faultline {__version__} is running at {settings.public_url}"]
    if created is not None:
        lines += [
            "",
            "First start: created a demo project and an admin account. Save these now; they are not shown again.",
            f"  project:        {created.project.name} (id {created.project.id})",
            f"  project token:  {created.project.api_token}",
            f"  API key:        {created.api_key}",
            f"  login:          {created.user.email} / {created.password}",
            "",
            "Point an SDK at it, e.g. posthog-python:",
            f"  Posthog('{created.project.api_token}', host='{settings.public_url}')",
            "",
        ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default FAULTLINE_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Bind port (default FAULTLINE_PORT or 8000)."),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Do not digest events in this process (run `faultline worker` separately)."
    ),
) -> None:
    """Run the HTTP server (API, capture endpoints) and, unless --no-worker, the digest worker. Migrates the
    database first; on an empty database creates a demo project and an admin user and prints the project token,
    an API key and the login."""
    import uvicorn

    from faultline.app import create_app

    settings = _settings()
    changes: dict[str, object] = {}
    if host:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if changes:
        settings = load_settings_with(settings, changes)
    with _database(settings) as db:

        def _bootstrap() -> accounts.Bootstrap | None:
            with db.write() as session:
                return accounts.bootstrap(session)

        created = _guard(_bootstrap, settings)
        _print_banner(settings, created)
        application = create_app(settings, db=db, auto_migrate=False, embedded_worker=not no_worker)
        uvicorn.run(
            application,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            proxy_headers=True,
            server_header=False,
        )


def load_settings_with(settings: Settings, changes: dict[str, object]) -> Settings:
    """Apply --host/--port over the environment, keeping the public URL in step unless it was set explicitly."""
    updated = settings.replace(**changes)
    default_public = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    if settings.public_url == default_public:
        shown = "127.0.0.1" if updated.host in ("0.0.0.0", "::") else updated.host
        updated = updated.replace(public_url=f"http://{shown}:{updated.port}")
    return updated


@app.command()
def worker() -> None:
    """Digest queued events (what `faultline serve` does in-process unless --no-worker). Stops cleanly on
    SIGTERM/SIGINT after the batch in progress; several workers may share one queue."""
    import logging
    import signal

    from faultline.ingest.queue import open_queue
    from faultline.pipeline.worker import Worker

    settings = _settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _database(settings) as db:
        try:
            queue = open_queue(settings.queue_url)
        except Exception as exc:
            fail(f"FAULTLINE_QUEUE_URL={_safe_url(settings.queue_url)} is not usable: {exc}")
        digest = Worker.from_settings(settings, db, queue=queue)
        from faultline.symbols.repair import RepairRunner
        from faultline.symbols.runtime import shared_runtime

        repairs = RepairRunner(db, shared_runtime(settings))
        repairs.start_thread()

        def _stop(_signum: int, _frame: object) -> None:
            digest.stop(timeout=0)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        source, target = _safe_url(settings.queue_url), _safe_url(settings.database_url)
        typer.echo(f"faultline worker: digesting {source} into {target}")
        sys.stdout.flush()
        digest.run_forever()
        repairs.stop()
        queue.close()
        typer.echo(f"faultline worker: stopped after {digest.processed} events")


@app.command("migrate")
def migrate_command(
    revision: str = typer.Option("head", help="Target revision (`head`, or an id from the migrations folder)."),
    downgrade: bool = typer.Option(False, help="Downgrade to the revision instead of upgrading."),
) -> None:
    """Apply database migrations (the server also does this on start)."""
    settings = _settings()
    with _database(settings, migrate_first=False) as db:
        before = _guard(lambda: migrate.current_revision(db.engine), settings)
        if downgrade:
            _guard(lambda: migrate.downgrade(db.engine, revision), settings)
        else:
            _guard(lambda: migrate.upgrade(db.engine, revision), settings)
        after = migrate.current_revision(db.engine)
    typer.echo(f"database {_safe_url(settings.database_url)}: {before or 'empty'} -> {after or 'empty'}")


def _find_organization(session: sa.orm.Session, name_or_id: str | None) -> Organization:
    stmt = sa.select(Organization).order_by(Organization.created_at)
    orgs = list(session.execute(stmt).scalars())
    if name_or_id is None:
        if not orgs:
            return accounts.create_organization(session, "Default")
        return orgs[0]
    for org in orgs:
        if str(org.id) == name_or_id or org.name == name_or_id:
            return org
    fail(f"no organization named or with id {name_or_id!r}")


@app.command()
def createuser(
    email: str = typer.Argument(..., metavar="EMAIL", help="Login e-mail address."),
    password: str = typer.Option(None, help="Password (8+ characters). Omit to generate and print one."),
    first_name: str = typer.Option("", help="Display name."),
    organization: str = typer.Option(None, help="Organization name or id (default: the first one)."),
    admin: bool = typer.Option(False, help="Make the user an organization admin."),
    staff: bool = typer.Option(False, help="Make the user an instance administrator."),
) -> None:
    """Create a user who can log in to the web UI, as a member of an organization."""
    settings = _settings()
    generated = password is None
    password = password or creds.new_password()
    with _database(settings) as db:
        try:
            with db.write() as session:
                org = _find_organization(session, organization)
                user = accounts.create_user(
                    session,
                    email,
                    password=password,
                    first_name=first_name,
                    is_staff=staff,
                    organization=org,
                    level=MembershipLevel.ADMIN if admin else MembershipLevel.MEMBER,
                )
                summary = f"created user {user.email} (id {user.id}) in organization {org.name!r}"
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(summary)
    if generated:
        typer.echo(f"password: {password}")


@app.command()
def createkey(
    email: str = typer.Argument(..., metavar="EMAIL", help="E-mail of the user who owns the key."),
    scopes: str = typer.Option(
        "error_tracking:read,error_tracking:write",
        help=f"Comma-separated scopes; any of: {', '.join(accounts.ALL_SCOPES)}.",
    ),
    label: str = typer.Option("cli", help="Label shown in the key list."),
    project: list[int] = typer.Option(None, help="Restrict the key to this project id (repeatable)."),
) -> None:
    """Create a personal API key (printed once; only its hash is stored)."""
    settings = _settings()
    with _database(settings) as db:
        try:
            with db.write() as session:
                user = accounts.get_user_by_email(session, email)
                if user is None:
                    fail(f"no user with email {email!r}")
                _key, value = accounts.create_api_key(
                    session, user, label=label, scopes=scopes.split(","), scoped_teams=project or None
                )
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(value)


@projects_app.callback()
def projects_list(ctx: typer.Context) -> None:
    """Without a subcommand: list every project with its id and capture token."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    with _database(settings) as db, db.read() as session:
        rows = accounts.list_projects(session)
    if not rows:
        typer.echo("no projects yet: run `faultline serve` once or `faultline projects create NAME`")
        return
    typer.echo(f"{'id':>4}  {'name':<24} {'organization':<20} token")
    for project, org in rows:
        typer.echo(f"{project.id:>4}  {project.name[:24]:<24} {org.name[:20]:<20} {project.api_token}")


@projects_app.command("create")
def projects_create(
    name: str = typer.Argument(..., metavar="NAME", help="Project name."),
    organization: str = typer.Option(None, help="Organization name or id (default: the first one)."),
) -> None:
    """Create a project and print its id and capture token."""
    settings = _settings()
    with _database(settings) as db:
        try:
            with db.write() as session:
                org = _find_organization(session, organization)
                project = accounts.create_project(session, org, name)
                line = f"created project {project.name!r} (id {project.id}) token {project.api_token}"
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(line)


@app.command("config")
def config_command(
    markdown: bool = typer.Option(False, help="Print the README configuration table instead."),
) -> None:
    """Show the effective configuration (secrets hidden)."""
    if markdown:
        typer.echo(markdown_table())
        return
    settings = _settings()
    shown = {
        "data dir": str(settings.data_dir),
        "database": _safe_url(settings.database_url),
        "queue": _safe_url(settings.queue_url),
        "blobs": settings.blob_url,
        "listen": f"{settings.host}:{settings.port}",
        "public url": settings.public_url,
        "log level": settings.log_level,
        "max body bytes": str(settings.max_body_bytes),
        "max decompressed bytes": str(settings.max_decompressed_bytes),
        "max event bytes": str(settings.max_event_bytes),
        "worker batch size": str(settings.worker_batch_size),
    }
    for key, value in shown.items():
        typer.echo(f"{key:<24} {value}")


def main() -> None:
    app()


def _add_domain_commands() -> None:
    from faultline.symbols.cli import symbols_app

    app.add_typer(symbols_app, name="symbols")


_add_domain_commands()
