"""Helpers for the issues API tests: an authenticated client bound to one project, and issue builders."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database
from faultline.issues.models import ActivityLog, NotificationOutbox
from tests.conftest import Tenant
from tests.support.factories import Built, create_issue


class Api:
    """Calls `/api/environments/<project>/error_tracking/...` as one tenant."""

    def __init__(self, client: TestClient, tenant: Tenant, prefix: str = "environments") -> None:
        self.client = client
        self.tenant = tenant
        self.base = f"/api/{prefix}/{tenant.project.id}/error_tracking"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.tenant.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, f"{self.base}/{path}", headers=headers, follow_redirects=False, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(client: TestClient, seed: Tenant) -> Api:
    return Api(client, seed)


@pytest.fixture
def other_api(client: TestClient, other_tenant: Tenant) -> Api:
    return Api(client, other_tenant)


@pytest.fixture
def make(db: Database, seed: Tenant):
    """`make(**kwargs)` builds an issue in the seed project (see tests.support.factories.create_issue)."""

    def build(project_id: int | None = None, **kwargs: Any) -> Built:
        with db.write() as session:
            return create_issue(session, project_id or seed.project.id, **kwargs)

    return build


def activities(db: Database, item_id: object | None = None) -> list[ActivityLog]:
    with db.read() as session:
        stmt = sa.select(ActivityLog).order_by(ActivityLog.created_at, ActivityLog.id)
        if item_id is not None:
            stmt = stmt.where(ActivityLog.item_id == str(item_id))
        return list(session.execute(stmt).scalars())


def outbox(db: Database, issue_id: object | None = None) -> list[NotificationOutbox]:
    with db.read() as session:
        stmt = sa.select(NotificationOutbox).order_by(NotificationOutbox.created_at, NotificationOutbox.id)
        if issue_id is not None:
            stmt = stmt.where(NotificationOutbox.distinct_id == str(issue_id))
        return list(session.execute(stmt).scalars())


def error(response: httpx.Response) -> tuple[int, str, str, str | None]:
    body = response.json()
    assert set(body) >= {"type", "code", "detail", "attr"}, body
    return response.status_code, body["code"], body["detail"], body["attr"]
