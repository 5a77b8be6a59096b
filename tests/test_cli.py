"""The `faultline` command's subcommands, run in-process against a temporary data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from faultline import migrate
from faultline.accounts import service as accounts
from faultline.cli import app
from faultline.config import load_settings
from faultline.db import Database

runner = CliRunner()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["serve", "worker", "migrate", "createuser", "createkey", "projects", "config", "symbols", "posthog-js"]),
        (["serve"], ["--host", "--port", "--no-worker", "demo project"]),
        (["worker"], ["SIGTERM", "several workers"]),
        (["symbols"], ["repairs", "repair"]),
        (["symbols", "repairs"], ["--project", "--limit"]),
        (["symbols", "repair"], ["--project"]),
        (["posthog-js"], ["install", "list", "remove"]),
        (["posthog-js", "install"], ["SOURCE", "FAULTLINE_NPM_REGISTRY", ".tgz"]),
        (["posthog-js", "remove"], ["VERSION"]),
        (["migrate"], ["--revision", "--downgrade"]),
        (["createuser"], ["EMAIL", "--password", "--organization", "--admin", "--staff"]),
        (["createkey"], ["EMAIL", "--scopes", "--label", "--project", "error_tracking:write"]),
        (["projects"], ["create"]),
        (["projects", "create"], ["NAME", "--organization"]),
        (["config"], ["--markdown"]),
    ],
)
def test_help_is_accurate(command: list[str], expected: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output, (command, word)


def test_migrate_then_projects(cli_env: Path) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"empty -> {migrate.head_revision()}" in result.output
    assert "no projects yet" in runner.invoke(app, ["projects"]).output
    created = runner.invoke(app, ["projects", "create", "Shop"])
    assert created.exit_code == 0 and "token phc_" in created.output
    listed = runner.invoke(app, ["projects"])
    assert "Shop" in listed.output and "phc_" in listed.output


def test_createuser_and_createkey(cli_env: Path) -> None:
    result = runner.invoke(app, ["createuser", "dev@example.com", "--first-name", "Dev"])
    assert result.exit_code == 0, result.output
    assert "password:" in result.output
    password = result.output.split("password:")[1].strip()
    key = runner.invoke(app, ["createkey", "dev@example.com", "--scopes", "error_tracking:read"])
    assert key.exit_code == 0 and key.output.strip().startswith("phx_")
    db = Database(load_settings().database_url)
    with db.read() as session:
        owner = accounts.authenticate_api_key(session, key.output.strip())
        assert owner is not None and owner.key.scopes == ["error_tracking:read"]
        user = accounts.get_user_by_email(session, "dev@example.com")
        assert user is not None and accounts.creds.verify_password(password, user.password_hash)
    db.dispose()
    duplicate = runner.invoke(app, ["createuser", "dev@example.com", "--password", "abcdefgh1"])
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output


def test_createkey_errors_are_one_line(cli_env: Path) -> None:
    missing = runner.invoke(app, ["createkey", "ghost@example.com"])
    assert missing.exit_code == 2
    assert missing.output.strip() == "faultline: error: no user with email 'ghost@example.com'"
    runner.invoke(app, ["createuser", "a@example.com", "--password", "long enough"])
    bad = runner.invoke(app, ["createkey", "a@example.com", "--scopes", "root"])
    assert bad.exit_code == 2 and "Unknown scope 'root'" in bad.output


def test_bad_configuration_fails_without_traceback(cli_env: Path) -> None:
    result = runner.invoke(app, ["migrate"], env={"FAULTLINE_PORT": "nope"})
    assert result.exit_code == 2
    assert result.output.strip() == "faultline: error: FAULTLINE_PORT='nope' is not an integer"
    unreachable = runner.invoke(app, ["migrate"], env={"FAULTLINE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert unreachable.exit_code == 2
    assert "Traceback" not in unreachable.output
    assert unreachable.output.startswith("faultline: error: cannot use database postgresql+psycopg://x@127.0.0.1:1/x")


def test_config_prints_settings_and_markdown(cli_env: Path) -> None:
    shown = runner.invoke(app, ["config"])
    assert str(cli_env) in shown.output and "secret" not in shown.output.lower()
    table = runner.invoke(app, ["config", "--markdown"])
    assert "| `FAULTLINE_DATABASE_URL` |" in table.output
