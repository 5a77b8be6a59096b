"""`faultline serve` and `faultline worker` migrate in a forked child, so the long-running process never loads
Alembic (~10 MiB it would keep for good); what the child finds still reaches the operator in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from faultline import migrate
from faultline.cli import app as cli
from tests.support.live_server import free_port

CHILD = """
import sys
import sqlalchemy as sa
from faultline import migrate
migrate.upgrade_in_child(sys.argv[1])
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    print(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())
print("alembic" in sys.modules)
"""


def test_the_child_migrates_to_head_and_the_parent_never_imports_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'faultline.db'}"
    done = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    revision, alembic_loaded = done.stdout.split()
    assert revision == migrate.head_revision()
    assert alembic_loaded == "False"


def test_a_refusing_database_is_reported_in_its_own_words(tmp_path: Path) -> None:
    with pytest.raises(migrate.MigrationFailed) as failed:
        migrate.upgrade_in_child("postgresql+psycopg://x@127.0.0.1:1/x")
    assert failed.value.refused
    assert "127.0.0.1" in str(failed.value) and "\n" not in str(failed.value)


def test_a_failing_migration_comes_back_with_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_engine: sa.Engine, revision: str = "head") -> None:
        raise RuntimeError("migration 0099 is broken")

    monkeypatch.setattr(migrate, "upgrade", broken)  # the forked child inherits the patch
    with pytest.raises(migrate.MigrationFailed) as failed:
        migrate.upgrade_in_child(f"sqlite:///{tmp_path / 'faultline.db'}")
    assert not failed.value.refused
    assert "Traceback" in str(failed.value) and "migration 0099 is broken" in str(failed.value)


def test_serve_says_in_one_line_that_the_database_is_unreachable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve", "--port", str(free_port())],
        env={"FAULTLINE_DATA_DIR": str(tmp_path / "data"), "FAULTLINE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"},
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("faultline: error: cannot use database postgresql+psycopg://x@127.0.0.1:1/x")
