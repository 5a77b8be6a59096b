"""bench/load.py against a live server, a few hundred events: the load generator's counting must stay right (acked,
digested, errors, the fingerprint mix), so the benchmark cannot rot. Nothing here looks at how fast anything was."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from faultline.db import Database
from tests.support.live_server import LiveServer

LOAD = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def run_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LOAD), *args], capture_output=True, text=True, timeout=240)


def stored_counts(db: Database, project_id: str) -> tuple[int, int]:
    """Events and issues stored for the project (the other test of this module shares the server)."""
    with db.engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM events WHERE project_id = :p"), {"p": project_id})
        issues = conn.execute(sa.text("SELECT count(*) FROM issues WHERE project_id = :p"), {"p": project_id})
        return events.scalar_one(), issues.scalar_one()


def test_flat_out_and_fixed_rate_counts(live_server: LiveServer, live_db: Database) -> None:
    creds = live_server.credentials()
    common = ["--url", live_server.url, "--project-id", creds["project_id"], "--api-key", creds["api_key"]]
    common += ["--token", creds["project_token"], "--json", "--drain", "120", "--seconds", "120"]
    events_before, issues_before = stored_counts(live_db, creds["project_id"])

    flat = run_load(*common, "--events", "300", "--concurrency", "2")
    assert flat.returncode == 0, flat.stderr
    result = json.loads(flat.stdout.strip().splitlines()[-1])
    assert (result["sent_events"], result["acked_events"], result["errors"]) == (300, 300, {})
    assert result["requests"] == 3  # batches of 100
    assert result["digested"] == 300 and result["backlog"] == 0
    assert result["event_bytes"] > 2_000

    fixed = run_load(*common, "--events", "100", "--batch", "10", "--rate", "200")
    assert fixed.returncode == 0, fixed.stderr
    result = json.loads(fixed.stdout.strip().splitlines()[-1])
    assert result["mode"] == "200/s"
    assert (result["acked_events"], result["requests"], result["digested"]) == (100, 10, 100)

    events_after, issues_after = stored_counts(live_db, creds["project_id"])
    assert events_after - events_before == 400
    # each run: every 100th event a new exception type (3 + 1), the rest among 20 recurring ones
    assert issues_after - issues_before == 20 + 3 + 1


def test_sentry_envelopes_count(live_server: LiveServer, live_db: Database) -> None:
    creds = live_server.credentials()
    dsn = re.search(r"Sentry DSN:\s+\S+//(\w+)@", live_server.output())
    assert dsn, live_server.output()
    with live_db.engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    out = run_load(
        *["--url", live_server.url, "--protocol", "sentry", "--project-id", creds["project_id"]],
        *["--sentry-key", dsn.group(1), "--api-key", creds["api_key"], "--size", "5000"],
        *["--events", "150", "--concurrency", "4", "--json", "--drain", "120", "--seconds", "120"],
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["acked_events"], result["requests"], result["errors"]) == (150, 150, {})
    assert result["digested"] == 150 and 4_500 < result["event_bytes"] < 6_000
    with live_db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == before + 150


def test_refuses_a_non_loopback_target() -> None:
    out = run_load("--url", "http://10.255.255.1:8000", "--token", "phc_x", "--events", "1")
    assert out.returncode != 0
    assert "loopback addresses only" in out.stderr
