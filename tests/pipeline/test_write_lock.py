"""Slow symbol work happens before the digest's write transaction: SQLite has one writer, and a batch waiting on a
script fetch must not make every API write wait with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.issues.models import Issue
from faultline.pipeline.digest import Outcome, Pipeline
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.symbols.runtime import build_runtime
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest
from tests.symbols.support import SAMPLES, Route, ScriptServer

MIN_JS = (SAMPLES / "js_bundle" / "app.min.js").read_bytes()
MIN_MAP = (SAMPLES / "js_bundle" / "app.min.js.map").read_bytes()


@pytest.fixture
def web() -> Iterator[ScriptServer]:
    server = ScriptServer()
    server.thread.start()
    yield server
    for route in server.routes.values():
        if route.gate is not None:
            route.gate.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_api_write_completes_while_a_batch_waits_on_a_script_fetch(
    app, client: TestClient, db, seed: Tenant, web: ScriptServer
) -> None:
    assert db.dialect == "sqlite"
    gate = threading.Event()
    web.routes["/static/app.min.js"] = Route(body=MIN_JS, gate=gate)  # held until the test lets it go
    web.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
    [earlier] = ingest(db, seed.project, [exception_event("ValueError", "an older issue")])

    runtime = build_runtime(app.state.settings.replace(sourcemap_allow_internal_ips=True))
    pipeline = Pipeline(db, symbols=runtime.resolver)
    script = f"{web.url}/static/app.min.js"
    frame = {"platform": "web:javascript", "filename": script, "function": "i", "lineno": 1, "colno": 59}
    outcomes: list[Outcome] = []
    batch = threading.Thread(
        target=lambda: outcomes.extend(
            ingest(db, seed.project, [exception_event("TypeError", "slow", frames=[frame])], pipeline=pipeline)
        )
    )
    batch.start()
    try:
        wait_for(lambda: ("GET", "/static/app.min.js") in web.hits)
        # The batch is now inside the script fetch, which cannot finish before `gate` is set.
        responses: list[Any] = []
        url = f"/api/environments/{seed.project.id}/error_tracking/issues/{earlier.issue_id}/"
        api = threading.Thread(
            target=lambda: responses.append(client.patch(url, json={"status": "resolved"}, headers=seed.headers))
        )
        api.start()
        api.join(20)  # generous: a write stuck behind the batch would wait for SQLite's 30 s busy timeout
        written_during_fetch = not api.is_alive() and batch.is_alive() and not gate.is_set()
    finally:
        gate.set()
        batch.join(60)
    api.join(60)
    assert written_during_fetch, "the API write waited for the digest batch's script fetch"
    assert responses[0].status_code == 200, responses[0].text
    assert responses[0].json()["status"] == "resolved"

    # The batch itself finished normally with what the fetch brought, and its writes were made.
    [out] = outcomes
    assert out.status == "stored"
    [resolved] = out.properties["$exception_list"][0]["stacktrace"]["frames"]
    assert (resolved["resolved"], resolved["resolved_name"], resolved["line"]) == (True, "validateCart", 4)
    with db.read() as session:
        symbol_set = session.execute(sa.select(SymbolSet).where(SymbolSet.ref == script)).scalar_one()
        frame_row = session.execute(
            sa.select(StackFrame).where(StackFrame.project_id == seed.project.id, StackFrame.resolved.is_(True))
        ).scalar_one()
        status = session.get(Issue, earlier.issue_id).status
    assert symbol_set.storage_ptr is not None and symbol_set.failure_reason is None
    assert frame_row.symbol_set_id == symbol_set.id
    assert status == "resolved"
