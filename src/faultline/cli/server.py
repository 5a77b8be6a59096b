"""`faultline serve` and `faultline worker`: the two long-running processes, both built on `faultline.runtime`."""

from __future__ import annotations

import logging
import signal
import socket
import sys

import typer

from faultline import __version__
from faultline.accounts import dsn as dsn_keys
from faultline.accounts import service as accounts
from faultline.cli.common import database, fail, guard, safe_url, settings_or_fail
from faultline.config import Settings
from faultline.http.server import freeze_startup_heap


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
        ]
        if created.dsn_public_key:
            dsn = dsn_keys.dsn(settings.public_url, created.dsn_public_key, created.project.id)
            lines += [f"  Sentry DSN:     {dsn}", "or a Sentry SDK:", f"  sentry_sdk.init(dsn='{dsn}')"]
        lines.append("")
    typer.echo("\n".join(lines))
    sys.stdout.flush()


def _posthog_js_hint(settings: Settings) -> None:
    """posthog-js's snippet and npm builds load exception autocapture from this server: say so while nothing is
    there to load, because the symptom (no autocaptured errors) is silent."""
    from faultline.posthog_js.store import AssetStore, default_root

    if not AssetStore(default_root(settings)).versions():
        typer.echo(
            "Note: no posthog-js build is installed for /static/, so exception autocapture stays off for sites that "
            "use the posthog-js snippet or npm package; run `faultline posthog-js install <version>` (README: "
            '"Exception autocapture in the browser").'
        )
        sys.stdout.flush()


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
    from faultline.app import create_app
    from faultline.http.server import run
    from faultline.runtime import Runtime

    settings = settings_or_fail()
    changes: dict[str, object] = {}
    if host:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if changes:
        settings = load_settings_with(settings, changes)
    check_port_free(settings.host, settings.port)
    with database(settings, migrate_in_child=True) as db:

        def _bootstrap() -> accounts.Bootstrap | None:
            with db.write() as session:
                return accounts.bootstrap(session)

        created = guard(_bootstrap, settings)
        _print_banner(settings, created)
        _posthog_js_hint(settings)
        runtime = Runtime.for_server(settings, db=db, embedded_worker=not no_worker)
        run(create_app(runtime=runtime, auto_migrate=False), settings)


def check_port_free(host: str, port: int) -> None:
    """Fail before anything is printed when the address is taken (another Faultline, another server): otherwise the
    banner would say "running at …" and uvicorn would exit a moment later with a bind error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT after a restart is not reported as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}. Is another server running there? "
                "Choose another port with --port or FAULTLINE_PORT."
            )


def load_settings_with(settings: Settings, changes: dict[str, object]) -> Settings:
    """Apply --host/--port over the environment, keeping the public URL in step unless it was set explicitly."""
    updated = settings.replace(**changes)
    default_public = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    if settings.public_url == default_public:
        shown = "127.0.0.1" if updated.host in ("0.0.0.0", "::") else updated.host
        updated = updated.replace(public_url=f"http://{shown}:{updated.port}")
    return updated


def worker() -> None:
    """Digest queued events (what `faultline serve` does in-process unless --no-worker). Stops cleanly on
    SIGTERM/SIGINT after the batch in progress; several workers may share one queue."""
    from faultline.runtime import Runtime

    settings = settings_or_fail()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with database(settings, migrate_in_child=True) as db:
        runtime = Runtime.for_worker(settings, db=db)
        try:
            runtime.queue.get()
        except Exception as exc:
            fail(f"FAULTLINE_QUEUE_URL={safe_url(settings.queue_url)} is not usable: {exc}")
        digest = runtime.new_worker()
        runtime.start()
        freeze_startup_heap()

        def _stop(_signum: int, _frame: object) -> None:
            digest.stop(timeout=0)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        source, target = safe_url(settings.queue_url), safe_url(settings.database_url)
        typer.echo(f"faultline worker: digesting {source} into {target}")
        sys.stdout.flush()
        try:
            digest.run_forever()
        finally:
            runtime.stop()
        typer.echo(f"faultline worker: stopped after {digest.processed} events")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
