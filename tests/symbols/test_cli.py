"""`faultline symbols repairs|repair`: re-symbolication progress from the command line."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faultline.app import create_app
from faultline.cli import app as cli
from faultline.config import load_settings
from tests.conftest import make_tenant
from tests.support.ingest import ingest
from tests.symbols.test_api import upload
from tests.symbols.test_pipeline import js_event

runner = CliRunner()


def test_repairs_are_listed_and_run(cli_env: Path) -> None:
    # The CLI refuses a data directory without a database (it would create an empty one): the server makes it.
    application = create_app(load_settings({"FAULTLINE_DATA_DIR": str(cli_env)}))
    with TestClient(application) as client:
        db = application.state.db
        tenant = make_tenant(db, email="cli@acme.test")
        assert runner.invoke(cli, ["symbols", "repairs"]).output.strip() == "no re-symbolication jobs"
        resolver = application.state.runtime.symbols.resolver
        [event] = ingest(db, tenant.project, [js_event()], symbols=resolver)  # before the upload: unresolved
        upload(client, tenant)
    listed = runner.invoke(cli, ["symbols", "repairs"])
    assert listed.exit_code == 0, listed.output
    assert "pending" in listed.output and "0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b" in listed.output
    ran = runner.invoke(cli, ["symbols", "repair", "--project", str(tenant.project.id)])
    assert ran.exit_code == 0 and "finished 1 re-symbolication job" in ran.output
    done = runner.invoke(cli, ["symbols", "repairs", "--project", str(tenant.project.id)]).output
    line = next(row for row in done.splitlines() if "0197a3f2" in row)
    assert line.split()[1:5] == ["done", "100%", "1", "0"]
    assert event.status == "stored"
