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
        (
            [],
            ["serve", "worker", "migrate", "createuser", "createkey", "projects", "orgs", "config", "symbols"],
        ),
        ([], ["posthog-js"]),
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
        (["createkey"], ["EMAIL", "--scopes", "--label", "--project", "--organization", "error_tracking:write"]),
        (["orgs"], ["create", "members", "add-member", "set-role", "remove-member"]),
        (["orgs", "add-member"], ["EMAIL", "ORGANIZATION", "--role", "member, admin, owner"]),
        (["orgs", "set-role"], ["EMAIL", "ORGANIZATION", "ROLE"]),
        (["orgs", "remove-member"], ["EMAIL", "ORGANIZATION"]),
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
    assert runner.invoke(app, ["migrate"]).exit_code == 0  # commands other than serve/migrate never create one
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
    assert runner.invoke(app, ["migrate"]).exit_code == 0  # commands other than serve/migrate never create one
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


def test_orgs_put_a_user_in_a_second_organization(cli_env: Path) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0  # commands other than serve/migrate never create one
    assert runner.invoke(app, ["createuser", "dev@example.com", "--password", "long enough"]).exit_code == 0
    assert "no organizations" not in runner.invoke(app, ["orgs"]).output  # createuser made "Default"
    created = runner.invoke(app, ["orgs", "create", "Globex"])
    assert created.exit_code == 0 and "created organization 'Globex'" in created.output
    added = runner.invoke(app, ["orgs", "add-member", "dev@example.com", "Globex", "--role", "admin"])
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "added dev@example.com to organization 'Globex' as admin"
    assert runner.invoke(app, ["projects", "create", "Shop", "--organization", "Globex"]).exit_code == 0
    listing = runner.invoke(app, ["orgs"]).output
    assert "Default" in listing and "Globex" in listing
    members = runner.invoke(app, ["orgs", "members", "Globex"]).output
    assert "dev@example.com" in members and "admin" in members

    db = Database(load_settings().database_url)
    with db.read() as session:
        user = accounts.get_user_by_email(session, "dev@example.com")
        assert user is not None
        assert len(accounts.user_organization_ids(session, user.id)) == 2
        names = [p.name for p in session.execute(accounts.accessible_projects(user.id)).scalars()]
    assert "Shop" in names

    # A key limited to one organization, named by id.
    org_id = next(line.split()[0] for line in listing.splitlines() if "Globex" in line)
    key = runner.invoke(app, ["createkey", "dev@example.com", "--organization", org_id])
    assert key.exit_code == 0, key.output
    with db.read() as session:
        owner = accounts.authenticate_api_key(session, key.output.strip())
        assert owner is not None and owner.key.scoped_organizations == [org_id]
    stranger = runner.invoke(app, ["createkey", "dev@example.com", "--organization", "not-a-uuid"])
    assert stranger.exit_code == 2 and "Invalid organization UUID" in stranger.output

    # Errors are one line; the last admin stays.
    again = runner.invoke(app, ["orgs", "add-member", "dev@example.com", "Globex"])
    assert again.exit_code == 2 and "already a member (admin)" in again.output
    ghost = runner.invoke(app, ["orgs", "add-member", "ghost@example.com", "Globex"])
    assert ghost.exit_code == 2 and "create the account first" in ghost.output
    assert "Unknown role" in runner.invoke(app, ["orgs", "set-role", "dev@example.com", "Globex", "boss"]).output
    assert "no organization named" in runner.invoke(app, ["orgs", "members", "Initech"]).output
    last = runner.invoke(app, ["orgs", "set-role", "dev@example.com", "Globex", "member"])
    assert last.exit_code == 2 and "at least one admin or owner" in last.output
    assert runner.invoke(app, ["orgs", "add-member", "dev2@example.com", "Globex"]).exit_code == 2
    assert runner.invoke(app, ["createuser", "boss@example.com", "--password", "long enough"]).exit_code == 0
    assert runner.invoke(app, ["orgs", "add-member", "boss@example.com", "Globex", "--role", "owner"]).exit_code == 0
    removed = runner.invoke(app, ["orgs", "remove-member", "dev@example.com", "Globex"])
    assert removed.exit_code == 0 and "removed dev@example.com" in removed.output
    with db.read() as session:
        assert len(accounts.user_organization_ids(session, user.id)) == 1
        names = [p.name for p in session.execute(accounts.accessible_projects(user.id)).scalars()]
    assert "Shop" not in names
    db.dispose()


def test_commands_refuse_to_create_an_empty_database(cli_env: Path, tmp_path: Path) -> None:
    """Run from another directory (the default data dir is ./data), a command says where it looked instead of
    creating an empty database in which the user it creates could never log in to the running server."""
    elsewhere = tmp_path / "elsewhere" / "data"
    for command in (["createuser", "dev@example.com"], ["projects"], ["orgs"], ["symbols", "repairs"]):
        result = runner.invoke(app, command, env={"FAULTLINE_DATA_DIR": str(elsewhere)})
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith(f"faultline: error: no database at {elsewhere.resolve()}/faultline.db")
        assert "FAULTLINE_DATA_DIR" in result.output
    assert not (elsewhere / "faultline.db").exists()


def test_serve_fails_before_the_banner_when_the_port_is_taken(cli_env: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert "running at" not in result.output
    assert result.output.startswith(f"faultline: error: cannot listen on 127.0.0.1:{port}: ")
    assert "--port or FAULTLINE_PORT" in result.output
