"""The server's descriptor budget: the connection cap, the listen backlog and the reserve must fit the open-file
limit, or accept() fails with EMFILE and real clients are dropped (the live proof is tests/e2e/
test_http_connection_cap.py)."""

from __future__ import annotations

import resource
import sys
from typing import Any

import pytest

from faultline.config import load_settings
from faultline.http import server
from faultline.http.server import FD_RESERVE, GIL_SWITCH_INTERVAL, connection_budget

INF = resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("max_connections", "soft", "hard", "expected"),
    [
        (1000, 1024, 524288, (1000 + 1000 + FD_RESERVE, 1000, 1000)),  # soft limit raised, nothing shrinks
        (1000, 1024, INF, (2256, 1000, 1000)),
        (1000, 65536, 65536, (65536, 1000, 1000)),  # already enough: left alone
        (16, 400, 400, (400, 16, 64)),  # the backlog never goes below 64
        (5000, 1024, 1024, (1024, 512, 256)),  # hard limit too small: cap and backlog share what is left
        (1000, 300, 300, (300, 29, 15)),
        (1, 10, 10, (10, 1, 1)),  # absurdly low limit: still serves one connection
    ],
)
def test_connection_budget(max_connections: int, soft: int, hard: int, expected: tuple[int, int, int]) -> None:
    limit, cap, backlog = connection_budget(max_connections, soft, hard)
    assert (limit, cap, backlog) == expected
    if hard != INF and limit - FD_RESERVE >= 2:
        assert cap + backlog <= max(2, limit - FD_RESERVE)


def test_serve_hands_the_gil_over_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """`serve` runs with a 1 ms GIL switch interval: with CPython's 5 ms, the event loop waited behind threads
    decoding large bodies and `/_health` took several hundred ms (bench/hostile.py)."""
    ran: dict[str, Any] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kwargs: ran.update(interval=sys.getswitchinterval()))
    monkeypatch.setattr(server, "apply_connection_budget", lambda cap: (cap, 64))
    monkeypatch.setattr(server.logging.config, "dictConfig", lambda config: None)  # leave the test run's logging be
    default = sys.getswitchinterval()
    try:
        server.run(object(), load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)}))
    finally:
        sys.setswitchinterval(default)
    assert ran["interval"] == pytest.approx(GIL_SWITCH_INTERVAL) and GIL_SWITCH_INTERVAL < 0.005


def test_serve_keeps_the_startup_heap_out_of_full_collections(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """What exists when `serve` starts lives as long as the process; a full collection that walks it holds the GIL
    for 20-800 ms (bench/hostile.py's slow `/_health` answers). `serve` freezes it before uvicorn runs."""
    import gc

    ran: dict[str, Any] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kwargs: ran.update(frozen=gc.get_freeze_count()))
    monkeypatch.setattr(server, "apply_connection_budget", lambda cap: (cap, 64))
    monkeypatch.setattr(server.logging.config, "dictConfig", lambda config: None)
    default = sys.getswitchinterval()
    gc.unfreeze()  # another test of this module ran `serve` too
    assert gc.get_freeze_count() == 0
    try:
        server.run(object(), load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)}))
    finally:
        sys.setswitchinterval(default)
        gc.unfreeze()
    assert ran["frozen"] > 10_000
