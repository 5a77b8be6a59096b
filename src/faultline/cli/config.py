"""`faultline config`: the effective configuration, or the README's configuration table."""

from __future__ import annotations

import typer

from faultline.cli.common import safe_url, settings_or_fail
from faultline.config import markdown_table


def config_command(
    markdown: bool = typer.Option(False, help="Print the README configuration table instead."),
) -> None:
    """Show the effective configuration (secrets hidden)."""
    if markdown:
        typer.echo(markdown_table())
        return
    settings = settings_or_fail()
    shown = {
        "data dir": str(settings.data_dir),
        "database": safe_url(settings.database_url),
        "queue": safe_url(settings.queue_url),
        "blobs": settings.blob_url,
        "listen": f"{settings.host}:{settings.port}",
        "public url": settings.public_url,
        "log level": settings.log_level,
        "max body bytes": str(settings.max_body_bytes),
        "max decompressed bytes": str(settings.max_decompressed_bytes),
        "max event bytes": str(settings.max_event_bytes),
        "max json values": str(settings.max_json_values),
        "max concurrent decodes": str(settings.max_concurrent_decodes),
        "worker batch size": str(settings.worker_batch_size),
        "posthog-js dir": str(settings.posthog_js_dir),
        "npm registry": settings.npm_registry,
    }
    for key, value in shown.items():
        typer.echo(f"{key:<24} {value}")


def register(app: typer.Typer) -> None:
    app.command("config")(config_command)
