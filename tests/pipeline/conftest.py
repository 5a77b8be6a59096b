"""A migrated database + tenant on SQLite (default) or on the real PostgreSQL, for pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faultline import migrate
from faultline.db import Database
from tests.conftest import Tenant, make_tenant


@dataclass
class Env:
    db: Database
    tenant: Tenant

    @property
    def project_id(self) -> int:
        return self.tenant.project.id


def _env(url: str) -> Iterator[Env]:
    db = Database(url)
    migrate.upgrade(db.engine)
    try:
        yield Env(db, make_tenant(db, email="pipeline@acme.test"))
    finally:
        db.dispose()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from _env(f"sqlite:///{tmp_path}/pipeline.db")


@pytest.fixture
def pg_env(pg_url: str) -> Iterator[Env]:
    yield from _env(pg_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        yield from _env(f"sqlite:///{tmp_path}/pipeline.db")
    else:
        url = request.getfixturevalue("pg_url")
        yield from _env(url)
