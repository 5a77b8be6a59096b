"""A really full disk under the queue: the embedded queue's file lives on a 4 MiB tmpfs that the test fills up.
Capture answers 503 `disk_full`, the log says disk full, `/_health` and the ingestion diagnostics (API and page)
say degraded and why; once space is freed capture works again and every acknowledged event is stored.

Mounting needs root (CI runs as root); elsewhere the module is skipped, and
tests/ingest/test_queue.py::test_sqlite_disk_full_is_reported_as_disk_full_and_loses_nothing still makes SQLite
raise a real SQLITE_FULL through `max_page_count`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.ingest import exception_event
from tests.support.live_server import LiveServer, running, wait_until

pytestmark = pytest.mark.slow

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a 4 MiB tmpfs needs root")
    mount_point = tmp_path_factory.mktemp("small-disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_disk: Path) -> Iterator[LiveServer]:
    with running(
        LiveServer(
            data_dir=tmp_path_factory.mktemp("disk-full") / "data",
            env_overrides={"FAULTLINE_QUEUE_URL": f"sqlite:///{small_disk}/queue.db"},
        )
    ) as live:
        yield live


def fill(disk: Path, leave: int) -> Path:
    """A file that leaves `leave` bytes free on `disk`."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def batch(token: str, n: int) -> tuple[list[str], bytes]:
    events = [exception_event("DiskFull", "x" * 2000, event_id=str(uuid.uuid4())) for _ in range(n)]
    return [e["uuid"] for e in events], json.dumps({"api_key": token, "batch": events}).encode()


def stored_uuids(data_dir: Path) -> set[str]:
    db = Database(f"sqlite:///{data_dir / 'faultline.db'}")
    try:
        with db.read() as session:
            return {str(u) for u in session.execute(sa.select(Event.uuid)).scalars()}
    finally:
        db.dispose()


def ingestion_page(server: LiveServer, project_id: str) -> str:
    creds = server.credentials()
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        token = _LOGIN_TOKEN.search(browser.get("/login").text)
        assert token
        browser.post(
            "/login", data={"email": creds["login"], "password": creds["password"], "login_token": token.group(1)}
        )
        page = browser.get(f"/project/{project_id}/ingestion")
        assert page.status_code == 200, page.text[:300]
        return page.text


def test_disk_full_is_reported_as_such_and_loses_nothing(server: LiveServer, small_disk: Path) -> None:
    creds = server.credentials()
    token, project_id = creds["project_token"], creds["project_id"]
    acked: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ids, body = batch(token, 5)
        assert client.post("/batch/", content=body).status_code == 200
        acked += ids

        filler = fill(small_disk, leave=96 * 1024)
        refused = None
        for _ in range(60):  # each batch is ~12 KB: the disk is full long before
            ids, body = batch(token, 5)
            response = client.post("/batch/", content=body)
            if response.status_code == 200:
                acked += ids
                continue
            refused = response
            break
        assert refused is not None, "the disk never filled up"
        assert refused.status_code == 503
        assert refused.json() == {
            "type": "server_error",
            "code": "disk_full",
            "detail": "The server's disk is full: events cannot be queued. Retry later.",
            "attr": None,
        }

        health = client.get("/_health")
        assert health.status_code == 200  # degraded, not down: see faultline.http.health
        assert health.json()["status"] == "degraded"
        (reason,) = health.json()["reasons"]
        assert reason["code"] == "disk_full"
        assert "disk full: the queue's SQLite file cannot grow" in reason["detail"]

        log = server.output()
        assert "ingestion queue write failed: disk full" in log
        assert "cannot rollback" not in log

        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {creds['api_key']}"}, timeout=10)
        report = api.get(f"/api/environments/{project_id}/error_tracking/ingestion/").json()
        assert report["health"]["status"] == "degraded"
        assert [r["code"] for r in report["health"]["reasons"]] == ["disk_full"]
        errors = wait_until(
            lambda: [
                e
                for e in api.get(f"/api/environments/{project_id}/error_tracking/ingestion/").json()["recent_errors"]
                if e["code"] == "disk_full"
            ],
            timeout_s=10,
        )
        assert errors and errors[0]["message"].startswith("disk full")
        page = ingestion_page(server, project_id)
        assert 'data-health="degraded"' in page and 'data-reason="disk_full"' in page
        assert "Ingestion is degraded" in page

        filler.unlink()
        ids, body = batch(token, 5)
        assert client.post("/batch/", content=body).status_code == 200
        acked += ids
        assert client.get("/_health").json() == {**health.json(), "status": "ok", "reasons": []}
        assert "ingestion queue writes work again" in server.output()
        api.close()

    stored = wait_until(lambda: (s := stored_uuids(server.data_dir)) >= set(acked) and s, timeout_s=60)
    assert stored == set(acked)
