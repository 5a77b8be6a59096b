"""The real posthog PyPI SDK against the real `faultline serve` process: default `/batch/` transport with gzip,
and the opt-in V1 transport; chained exceptions become issues, fingerprints, events and stack frames."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from posthog import Posthog

from faultline.db import Database
from faultline.issues.models import Event, Issue, IssueFingerprint
from faultline.symbols.models import StackFrame
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


def parse_amount(raw: str) -> int:
    return int(raw) * 100


def charge(user: str, raw: str) -> int:
    try:
        return parse_amount(raw)
    except ValueError as exc:
        raise RuntimeError(f"could not charge {user}") from exc


def refund(order: str) -> None:
    raise KeyError(order)


def caught(fn, *args) -> BaseException:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> LiveServer:
    return live_server


@pytest.fixture(scope="module")
def db(server: LiveServer) -> Iterator[Database]:
    database = Database(f"sqlite:///{Path(server.data_dir) / 'faultline.db'}")
    yield database
    database.dispose()


def wait_for_events(db: Database, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as s:
            if s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} events digested within {timeout}s")


def test_real_sdk_default_transport_gzip_and_v1(server: LiveServer, db: Database) -> None:
    creds = server.credentials()
    token, api_key = creds["project_token"], creds["api_key"]

    batch_client = Posthog(token, host=server.url, gzip=True, flush_at=10, flush_interval=0.2, max_retries=1)
    batch_client.capture_exception(caught(charge, "alice", "12,50"), distinct_id="alice", properties={"plan": "pro"})
    batch_client.capture_exception(caught(charge, "bob", "7,00"), distinct_id="bob")
    batch_client.flush()
    batch_client.shutdown()
    wait_for_events(db, 2)

    v1_client = Posthog(token, host=server.url, capture_mode="v1", sync_mode=True, max_retries=1)
    v1_client.capture_exception(caught(charge, "carol", "1,5"), distinct_id="carol")
    v1_client.capture_exception(caught(refund, "order-9"), distinct_id="carol")
    v1_client.shutdown()
    wait_for_events(db, 4)

    with db.read() as s:
        issues = {i.name: i for i in s.execute(sa.select(Issue)).scalars()}
        assert set(issues) == {"RuntimeError", "KeyError"}
        runtime = issues["RuntimeError"]
        assert (runtime.occurrences, runtime.users) == (3, 3)  # same code path, three messages: one issue
        assert runtime.description == "could not charge alice"
        assert issues["KeyError"].occurrences == 1
        fingerprints = s.execute(sa.select(IssueFingerprint.issue_id, IssueFingerprint.fingerprint)).all()
        assert {issue_id for issue_id, _ in fingerprints} == {runtime.id, issues["KeyError"].id}
        events = s.execute(sa.select(Event).order_by(Event.timestamp)).scalars().all()
        assert [e.lib for e in events] == ["posthog-python"] * 4
        first = events[0].properties
        assert first["plan"] == "pro" and first["$exception_issue_id"] == str(runtime.id)
        # `raise … from …`: the outer RuntimeError first, its ValueError cause after it.
        assert first["$exception_types"] == ["RuntimeError", "ValueError"]
        assert "charge" in first["$exception_functions"] and "parse_amount" in first["$exception_functions"]
        frames = s.execute(sa.select(StackFrame)).scalars().all()
        functions = {f.contents["resolved_name"] for f in frames}
        assert {"charge", "parse_amount", "refund", "caught"} <= functions
        parse_frame = next(f for f in frames if f.contents["resolved_name"] == "parse_amount")
        assert parse_frame.resolved and parse_frame.contents["lang"] == "python"
        assert parse_frame.context["line"]["line"].strip() == "return int(raw) * 100"

    report = httpx.get(
        f"{server.url}/api/environments/{creds['project_id']}/error_tracking/ingestion/",
        headers={"Authorization": f"Bearer {api_key}"},
    ).json()
    assert report["totals"]["accepted"] == 4 and report["queue"]["pending"] == 0
