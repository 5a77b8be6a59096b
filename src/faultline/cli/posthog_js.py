"""`faultline posthog-js …`: install, list and remove the posthog-js versions served under `/static/`."""

from __future__ import annotations

import typer

from faultline.cli.common import settings_or_fail
from faultline.posthog_js.install import InstallError, install
from faultline.posthog_js.store import AssetStore, default_root

posthog_js_app = typer.Typer(
    help="posthog-js files served under /static/ (the snippet's array.js, exception autocapture).",
    no_args_is_help=True,
)


def _store() -> tuple[AssetStore, str, str]:
    settings = settings_or_fail()
    return AssetStore(default_root(settings)), settings.npm_registry, settings.public_url


@posthog_js_app.command("install")
def install_command(
    source: str = typer.Argument(
        "latest",
        metavar="SOURCE",
        help="A version (1.449.2) or dist-tag (latest) to download from FAULTLINE_NPM_REGISTRY, or a local "
        "node_modules/posthog-js directory or npm tarball (.tgz) for machines without internet access.",
    ),
) -> None:
    """Install a posthog-js version; use the version your site bundles (`npm ls posthog-js`)."""
    store, registry, public_url = _store()
    try:
        done = install(store, source, registry)
    except InstallError as exc:
        typer.echo(f"faultline: error: cannot install posthog-js from {source}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except OSError as exc:
        typer.echo(f"faultline: error: cannot write {store.root}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"installed posthog-js {done.version} ({done.files} files, {done.bytes / 1e6:.1f} MB) into {done.path}\n"
        f"serving {public_url}/static/{done.version}/exception-autocapture.js and, while it is the newest "
        f"installed version, {public_url}/static/array.js"
    )


@posthog_js_app.command("list")
def list_command() -> None:
    """Installed versions, newest first (the newest answers unversioned paths such as /static/array.js)."""
    store, _registry, _url = _store()
    installed = store.installed()
    if not installed:
        typer.echo(f"no posthog-js version installed in {store.root}; run `faultline posthog-js install`")
        return
    newest = store.newest()
    for item in installed:
        marker = "  (newest: serves /static/array.js)" if item.version == newest else ""
        typer.echo(f"{item.version:<20} {len(item.files()):>4} files{marker}")


@posthog_js_app.command("remove")
def remove_command(version: str = typer.Argument(..., metavar="VERSION", help="The version to delete.")) -> None:
    """Delete an installed version."""
    store, _registry, _url = _store()
    if not store.remove(version):
        typer.echo(f"faultline: error: posthog-js {version} is not installed in {store.root}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"removed posthog-js {version}")
