"""The composition root: one set of engines per app, shared by its API and its embedded worker, and background
services started and stopped by the runtime alone (ingestion starts none)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.runtime import Runtime, Stop
from faultline.symbols.runtime import runtime_for
from tests.conftest import make_settings


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_the_api_and_the_embedded_worker_share_one_rules_engine_and_one_symbols_runtime(tmp_path: Path) -> None:
    runtime = Runtime.for_server(make_settings(tmp_path / "data"), embedded_worker=True)
    app = create_app(runtime=runtime)
    with TestClient(app):
        worker = runtime.worker
        assert worker is not None and worker.running
        assert worker.pipeline.rules is runtime.rules
        assert worker.pipeline.symbols is runtime.symbols.resolver
        assert runtime_for(app.state) is runtime.symbols  # what the symbol-set API and blob routes use
        assert worker.queue is app.state.ingest.queue  # capture enqueues where the worker claims
        assert "queue" in app.state.health_probes
    assert runtime.worker is None
    runtime.close()


def test_two_apps_never_share_engines_even_with_equal_settings(tmp_path: Path) -> None:
    """Before the composition root, the symbols runtime was a process singleton keyed by settings: two apps on the
    same configuration shared caches (and a test's app leaked into the next)."""
    settings = make_settings(tmp_path / "data")
    first, second = create_app(settings), create_app(settings)
    assert runtime_for(first.state) is not runtime_for(second.state)
    assert first.state.runtime.rules is not second.state.runtime.rules


def test_services_follow_the_role(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")

    def names(runtime: Runtime) -> list[str]:
        return [service.name for service in runtime.services]

    assert names(Runtime.for_server(settings)) == ["diagnostics-flusher", "memory-returner"]
    assert names(Runtime.for_server(settings, embedded_worker=True)) == [
        "diagnostics-flusher",
        "memory-returner",
        "digest-worker",
        "symbol-repairs",
        "retention",
        "alert-delivery",
    ]
    assert names(Runtime.for_worker(settings)) == ["symbol-repairs", "retention", "alert-delivery"]
    assert names(Runtime(settings)) == []


def test_an_app_without_worker_runs_no_digest_and_opens_no_queue(tmp_path: Path) -> None:
    runtime = Runtime.for_server(make_settings(tmp_path / "data"))
    with TestClient(create_app(runtime=runtime)) as client:
        assert client.get("/_health").status_code == 200
        assert "faultline-digest" not in _threads()
        assert "faultline-diagnostics" in _threads()
        assert runtime.worker is None and not runtime.queue.opened
    assert "faultline-diagnostics" not in _threads()
    runtime.close()


def test_services_restart_with_the_app_and_stop_in_reverse_order(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path / "data"))
    events: list[str] = []

    def service(name: str) -> Callable[[], Stop]:
        def start() -> Stop:
            events.append(f"start {name}")
            return lambda: events.append(f"stop {name}")

        return start

    runtime.add_service("a", service("a"))
    runtime.add_service("b", service("b"))
    app = create_app(runtime=runtime)
    for _ in range(2):  # an app whose lifespan runs twice (two TestClient blocks) starts its services again
        with TestClient(app):
            pass
    assert events == ["start a", "start b", "stop b", "stop a"] * 2
    runtime.close()


def test_a_service_that_fails_to_start_stops_the_ones_already_started(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path / "data"))
    stopped: list[str] = []
    runtime.add_service("first", lambda: lambda: stopped.append("first"))

    def broken() -> Stop:
        raise RuntimeError("cannot start")

    runtime.add_service("broken", broken)
    with pytest.raises(RuntimeError, match="cannot start"):
        runtime.start()
    assert stopped == ["first"]
    runtime.stop()  # nothing left to stop
    assert stopped == ["first"]
    runtime.close()
