"""Fixtures for symbol tests.

One app (fresh SQLite) and two organizations per test *module*; every test gets its own new project in each, so
tests stay isolated without paying for a migration and two argon2 password hashes per test. Also a moto S3
endpoint (one real process per module that asks for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.app import create_app
from tests.conftest import Tenant, make_settings, make_tenant
from tests.symbols.support import moto_server

_projects = count(1)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def _module_app(tmp_path_factory: pytest.TempPathFactory):
    app = create_app(make_settings(tmp_path_factory.mktemp("symbols") / "data"))
    with TestClient(app) as client:
        app.state.test_client = client
        yield app


@pytest.fixture
def app(_module_app):
    return _module_app


@pytest.fixture
def client(_module_app) -> TestClient:
    return _module_app.state.test_client


@pytest.fixture(scope="module")
def _acme(_module_app) -> Tenant:
    return make_tenant(_module_app.state.db, email="owner@acme.test")


@pytest.fixture(scope="module")
def _globex(_module_app) -> Tenant:
    return make_tenant(_module_app.state.db, email="someone@globex.test", name="Globex")


def _fresh_project(db, tenant: Tenant) -> Tenant:
    with db.write() as session:
        organization = session.merge(tenant.organization)
        project = accounts.create_project(session, organization, f"project {next(_projects)}")
    return Tenant(organization=tenant.organization, project=project, user=tenant.user, api_key=tenant.api_key)


@pytest.fixture
def seed(_module_app, _acme) -> Tenant:
    return _fresh_project(_module_app.state.db, _acme)


@pytest.fixture
def other_tenant(_module_app, _globex) -> Tenant:
    return _fresh_project(_module_app.state.db, _globex)
