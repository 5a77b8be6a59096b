"""The `faultline` command: serve, migrate and administer an installation.

One module per command group (`server`: serve/worker, `migrate`, `accounts`: createuser/createkey/projects/orgs,
`config`, `symbols`, `posthog_js`), each importing only `common` and the domains it drives; this module registers
them in the order `faultline --help` lists them. Nothing here is imported back by a domain.
"""

from __future__ import annotations

import typer

from faultline import __version__
from faultline.cli import accounts, config, migrate, posthog_js, server, symbols

app = typer.Typer(
    name="faultline",
    help="Faultline: self-hosted error tracking that speaks PostHog's Error Tracking API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


server.register(app)
migrate.register(app)
accounts.register(app)
config.register(app)
accounts.register_groups(app)
app.add_typer(symbols.symbols_app, name="symbols")
app.add_typer(posthog_js.posthog_js_app, name="posthog-js")


def main() -> None:
    app()
