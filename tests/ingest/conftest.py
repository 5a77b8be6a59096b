"""An in-process app whose demo project owns the token the recorded SDK samples carry, plus a worker to digest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts.models import Project
from faultline.app import create_app
from faultline.db import Base, Database
from faultline.pipeline.worker import Worker
from tests.conftest import Tenant, make_settings, make_tenant

SAMPLE_TOKEN = "phc_test_project_token"
RESET_TABLES = {
    "events",
    "issue_users",
    "issue_volume_hourly",
    "issue_volume_daily",
    "issue_assignments",
    "issue_fingerprints",
    "activity_log",
    "notification_outbox",
    "stack_frames",
    "ingest_counters",
    "ingest_errors",
    "issues",
}


@dataclass
class Capture:
    client: TestClient
    db: Database
    tenant: Tenant
    worker: Worker

    @property
    def token(self) -> str:
        return SAMPLE_TOKEN

    def digest(self) -> int:
        return self.worker.run_until_empty()

    def pending(self) -> int:
        return self.worker.queue.pending()

    def flush(self) -> None:
        self.client.app.state.ingest.diagnostics.flush(self.db)

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, content=body, headers=headers or {}, **kwargs)


@contextmanager
def capture_app(data_dir: Path, **env: str) -> Iterator[Capture]:
    """An app (with FAULTLINE_* overrides in `env`) whose demo project owns the samples' token, and a worker."""
    app = create_app(make_settings(data_dir, **env))
    with TestClient(app) as client:
        db = app.state.db
        seed = make_tenant(db, email="owner@acme.test")
        with db.write() as session:
            session.execute(sa.update(Project).where(Project.id == seed.project.id).values(api_token=SAMPLE_TOKEN))
        worker = app.state.runtime.new_worker()
        yield Capture(client, db, seed, worker)


@pytest.fixture(scope="module")
def capture_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    """One app per module (creating and migrating one costs ~1 s); `capture` empties it between tests."""
    with capture_app(tmp_path_factory.mktemp("capture") / "data") as cap:
        yield cap


@pytest.fixture
def capture(capture_module: Capture) -> Capture:
    cap = capture_module
    queue = cap.worker.queue
    while messages := queue.claim(10_000, 0):
        queue.ack(messages)
    cap.flush()
    with cap.db.write() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in RESET_TABLES:
                session.execute(table.delete())
    cap.worker.pipeline.recent_frames.clear()
    return cap
