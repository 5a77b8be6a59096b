"""Fixtures shared by every test package.

* `settings` / `runtime` / `app` / `client`: an in-process app on a fresh SQLite file (fast, for contract tests),
  built like `faultline serve --no-worker` builds it (`faultline.runtime.Runtime.for_server`).
* `pg_url`: a fresh database on the machine's real PostgreSQL (skips loudly if it cannot be started).
* `seed`: an organization, project, user and full-access API key created through the account service.
* `live_server`: the real `faultline serve` process, one per test module.
* `live_db`: a Database on the live server's SQLite file.
* `cli_env`: a clean FAULTLINE_* environment with a fresh data dir, for in-process CLI runs.

With FAULTLINE_TEST_CLOCK_SHIFT_DAYS set, the wall clock of this process (every xdist worker imports this file) and
of every `faultline` subprocess the tests start is moved that many days (tests/support/clock.py): `make test-future`.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clock import start_session_clock

# Before the product is imported, so that nothing it computes at import time sees the real date.
CLOCK_SHIFT = start_session_clock()

# Starlette 1.x nudges towards `httpx2` for TestClient; plain httpx works and is what the SDK tests use.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`", category=UserWarning)

from fastapi.testclient import TestClient  # noqa: E402

from faultline.accounts import service as accounts  # noqa: E402
from faultline.accounts.models import MembershipLevel, Organization, Project, User  # noqa: E402
from faultline.app import create_app  # noqa: E402
from faultline.config import Settings, load_settings  # noqa: E402
from faultline.db import Database  # noqa: E402
from faultline.runtime import Runtime  # noqa: E402
from tests.support.databases import ensure_postgres, fresh_postgres_database  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402


def pytest_report_header() -> str | None:
    if CLOCK_SHIFT:
        return f"clock shifted by {CLOCK_SHIFT.days} days: now is {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    return None


def make_settings(data_dir: Path, **env: str) -> Settings:
    return load_settings({"FAULTLINE_DATA_DIR": str(data_dir), **env})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    built = Runtime.for_server(settings)
    yield built
    built.close()


@pytest.fixture
def app(runtime: Runtime):
    return create_app(runtime=runtime)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def db(app) -> Database:
    return app.state.db


@dataclass
class Tenant:
    organization: Organization
    project: Project
    user: User
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(db: Database, *, email: str, scopes: list[str] | None = None, name: str = "Acme") -> Tenant:
    with db.write() as session:
        org = accounts.create_organization(session, name)
        project = accounts.create_project(session, org, f"{name} web")
        user = accounts.create_user(
            session, email, password="correct horse", organization=org, level=MembershipLevel.ADMIN
        )
        _key, value = accounts.create_api_key(session, user, label="test", scopes=scopes or ["*"])
    return Tenant(organization=org, project=project, user=user, api_key=value)


@pytest.fixture
def seed(client: TestClient, db: Database) -> Tenant:
    return make_tenant(db, email="owner@acme.test")


@pytest.fixture
def other_tenant(client: TestClient, db: Database) -> Tenant:
    return make_tenant(db, email="someone@globex.test", name="Globex")


@pytest.fixture(scope="session")
def postgres_available() -> None:
    reason = ensure_postgres()
    if reason:
        pytest.skip(f"POSTGRES UNAVAILABLE — {reason}")


@pytest.fixture
def pg_url(postgres_available: None) -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment for in-process `faultline` commands: no FAULTLINE_* from outside, a fresh data dir."""
    for key in list(os.environ):
        if key.startswith("FAULTLINE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FAULTLINE_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(data_dir=tmp_path_factory.mktemp("live") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_db(live_server: LiveServer) -> Iterator[Database]:
    """The live server's own SQLite database, to see what its digest worker stored."""
    database = Database(f"sqlite:///{live_server.data_dir / 'faultline.db'}")
    yield database
    database.dispose()
