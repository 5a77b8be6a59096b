"""SIGKILL the server while SDK-style clients are being acknowledged; after a restart every acknowledged event is
stored exactly once and every counter agrees with the stored rows."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.ingest.models import IngestCounter
from faultline.issues.models import Event, Issue, IssueVolumeDaily
from tests.support.ingest import exception_event, python_frame
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


def test_sigkill_after_acks_loses_nothing_and_counts_once(tmp_path: Path) -> None:
    server = LiveServer(data_dir=tmp_path / "data")
    server.start()
    token = server.credentials()["project_token"]
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n: int) -> None:
        with httpx.Client(timeout=5) as client:
            i = 0
            while not stop.is_set():
                events = [
                    exception_event(
                        f"Error{(n + j) % 3}",
                        "m",
                        frames=[python_frame("f", 1 + (n + j) % 3)],
                        distinct_id=f"user-{j % 5}",
                    )
                    for j in range(25)
                ]
                try:
                    response = client.post(f"{server.url}/batch/", json={"api_key": token, "batch": events})
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    with lock:
                        acked.extend(e["uuid"] for e in events)
                i += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(acked) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL to the whole process group, mid-traffic and (very likely) mid-digest
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acked) >= 500

    backlog = sqlite3.connect(tmp_path / "data" / "queue.db").execute("SELECT count(*) FROM queue_items").fetchone()[0]
    print(f"acked={len(acked)} still queued at the kill={backlog}")  # shown with -s: the restart had work to do
    server.start()
    db = Database(f"sqlite:///{tmp_path / 'data' / 'faultline.db'}")
    try:
        expected = set(acked)
        deadline = time.monotonic() + 90
        stored: set[str] = set()
        while time.monotonic() < deadline:
            with db.read() as s:
                stored = {str(u) for u in s.execute(sa.select(Event.uuid)).scalars()}
            if expected <= stored:
                break
            time.sleep(0.25)
        assert expected <= stored, f"{len(expected - stored)} acknowledged events were lost"
        # A request cut by the kill may have been queued without its client seeing the 200: those events are
        # digested too. Wait for the queue to drain, then read every figure in one transaction.
        queue = sqlite3.connect(tmp_path / "data" / "queue.db")
        try:
            while time.monotonic() < deadline:
                if queue.execute("SELECT count(*) FROM queue_items").fetchone()[0] == 0:
                    break
                time.sleep(0.25)
        finally:
            queue.close()
        with db.read() as s:
            stored = {str(u) for u in s.execute(sa.select(Event.uuid)).scalars()}
            events = s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()
            occurrences = s.execute(sa.select(sa.func.sum(Issue.occurrences))).scalar_one()
            per_issue = dict(s.execute(sa.select(Event.issue_id, sa.func.count()).group_by(Event.issue_id)).all())
            issue_counts = dict(s.execute(sa.select(Issue.id, Issue.occurrences)).all())
            daily = s.execute(sa.select(sa.func.sum(IssueVolumeDaily.count))).scalar_one()
            accepted = s.execute(
                sa.select(sa.func.sum(IngestCounter.value)).where(IngestCounter.name == "accepted")
            ).scalar_one()
        assert events == len(stored) and occurrences == events and daily == events
        assert per_issue == issue_counts
        assert accepted == events
    finally:
        db.dispose()
        server.stop()
