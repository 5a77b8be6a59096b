"""The capture limits that bound the work a body can cause, each at its edge over HTTP (limit exactly → accepted,
one more → refused), on both paths: bodies decoded on the event loop and bodies big enough to go to a worker
thread. Also: large decodes never run more at once than FAULTLINE_MAX_CONCURRENT_DECODES."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from faultline.ingest import capture
from faultline.ingest.inflight import BodyBudget
from tests.ingest.conftest import SAMPLE_TOKEN, Capture, capture_app
from tests.support.ingest import count_json_values, exception_event

CAP = 512 * 1024  # above the 256 KiB decoded on the event loop, so both paths are reachable
MAX_VALUES = 1000
OFFLOADED = 300 * 1024  # a body padded to this size is decoded in a worker thread


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    with capture_app(
        tmp_path_factory.mktemp("limits") / "data",
        FAULTLINE_MAX_DECOMPRESSED_BYTES=str(CAP),
        FAULTLINE_MAX_JSON_VALUES=str(MAX_VALUES),
        FAULTLINE_MAX_CONCURRENT_DECODES="1",
        FAULTLINE_MAX_EVENT_BYTES=str(256 * 1024),
    ) as cap:
        yield cap


def padded(doc: dict[str, Any], size: int) -> bytes:
    """`doc` as JSON, exactly `size` bytes long (whitespace before the closing brace changes no value)."""
    raw = json.dumps(doc).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def with_values(n: int, *, filler: str = "") -> dict[str, Any]:
    """A valid capture body holding exactly `n` JSON values."""
    doc: dict[str, Any] = {"api_key": SAMPLE_TOKEN, "batch": [exception_event(properties={"filler": filler})]}
    doc["pad"] = [0] * (n - count_json_values(doc) - 1)
    assert count_json_values(doc) == n
    return doc


def assert_413(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("encode", "headers"),
    [
        (lambda raw: raw, {"Content-Type": "application/json"}),
        (gzip.compress, {"Content-Encoding": "gzip"}),
        (gzip.compress, {"Content-Type": "text/plain"}),  # posthog-js gzip-js: magic bytes only
    ],
    ids=["identity", "gzip", "gzip-js"],
)
def test_decompressed_cap_at_its_edge(limited: Capture, encode: Callable[[bytes], bytes], headers: dict) -> None:
    doc = {"api_key": SAMPLE_TOKEN, "batch": [exception_event()]}
    assert limited.post("/e/", encode(padded(doc, CAP)), headers).status_code == 200
    assert_413(limited.post("/e/", encode(padded(doc, CAP + 1)), headers))
    # Below the cap but past what the event loop decodes itself: handed to a worker thread, same answer.
    assert limited.post("/e/", encode(padded(doc, OFFLOADED)), headers).status_code == 200


@pytest.mark.parametrize("size", [None, OFFLOADED], ids=["on-the-loop", "offloaded"])
def test_json_value_count_at_its_edge(limited: Capture, size: int | None) -> None:
    def post(doc: dict[str, Any]) -> Any:
        raw = json.dumps(doc).encode() if size is None else padded(doc, size)
        return limited.post("/batch/", raw, {"Content-Type": "application/json"})

    assert post(with_values(MAX_VALUES)).status_code == 200
    assert_413(post(with_values(MAX_VALUES + 1)))
    # Commas and brackets inside strings push the cheap upper bound past the limit; the exact count decides.
    tricky = with_values(MAX_VALUES, filler='[{,"\\' * 300)
    assert post(tricky).status_code == 200
    assert_413(post(with_values(MAX_VALUES + 1, filler='[{,"\\' * 300)))


def test_value_bombs_are_refused_before_parsing(limited: Capture) -> None:
    """The issue's amplification body in small: containers (`{}`) and short strings cost 20-30× their size once
    parsed; both are refused by the count, gzipped or not."""
    before = limited.pending()
    event = json.dumps(exception_event(properties={"junk": "BOMB"})).encode()
    for unit in (b"{}", b'"a"', b"0"):
        junk = b"[" + b",".join([unit] * 50_000) + b"]"  # a valid event well under the per-event cap
        bomb = b'{"api_key":"' + SAMPLE_TOKEN.encode() + b'","batch":[' + event.replace(b'"BOMB"', junk) + b"]}"
        assert_413(limited.post("/batch/", gzip.compress(bomb), {"Content-Encoding": "gzip"}))
    assert limited.pending() == before


def peak_concurrent_decodes(cap: Capture, monkeypatch: pytest.MonkeyPatch, *, inline_limit: int) -> int:
    """Post eight large bodies at once (all must be accepted); how many decodes in worker threads (the real
    decoder, observed) ran at the same time at most. `inline_limit`: decodes below it are the first attempt on the
    event loop, not counted."""
    running, peak, lock = [0], [0], threading.Lock()
    real = capture.decode_body

    def observed(*args: Any, **kwargs: Any) -> bytes:
        if kwargs["max_decompressed_bytes"] <= inline_limit:  # the small first attempt on the event loop
            return real(*args, **kwargs)
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)  # widen the window in which a second decode would overlap
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(capture, "decode_body", observed)
    raw = padded({"api_key": SAMPLE_TOKEN, "batch": [exception_event()]}, OFFLOADED)
    statuses: list[int] = []

    def send() -> None:
        statuses.append(cap.post("/e/", raw, {"Content-Type": "application/json"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 8
    return peak[0]


def test_large_decodes_never_run_more_at_once_than_configured(
    limited: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight concurrent large bodies with FAULTLINE_MAX_CONCURRENT_DECODES=1: every one is accepted, and the
    decoder never runs twice at a time. Without the gate all eight ran together."""
    assert peak_concurrent_decodes(limited, monkeypatch, inline_limit=CAP - 1) == 1


def test_one_large_decode_at_a_time_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default large bodies are decoded one at a time: decoding holds the GIL, and with two decode threads the
    event loop (and `/_health`) waited behind two GIL contenders instead of one (bench/hostile.py: 15 → 4 answers
    over 100 ms in four alternating runs each)."""
    with capture_app(tmp_path / "data") as default:
        assert peak_concurrent_decodes(default, monkeypatch, inline_limit=capture._INLINE_BYTES) == 1


def test_a_body_is_held_once_while_it_is_read() -> None:
    """The body is handed on as the buffer it was read into; copying it into `bytes` held two copies of up to
    FAULTLINE_MAX_BODY_BYTES per request in flight (2.0× the body at peak, measured; now 1.1×)."""
    size, chunk = 8 * 1024 * 1024, 64 * 1024
    messages = [{"type": "http.request", "body": b"x" * chunk, "more_body": True} for _ in range(size // chunk)]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    # The app's part `_read_body` uses: the in-flight body budget (tests/ingest/test_inflight_budget.py).
    app = SimpleNamespace(state=SimpleNamespace(ingest=SimpleNamespace(body_budget=BodyBudget(size))))
    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/batch/", "app": app}, receive)

    async def read() -> tuple[bytes | bytearray, int]:
        tracemalloc.start()  # here, not around asyncio.run: a new event loop allocates megabytes of its own
        try:
            body = await capture._read_body(request, size)
            return body, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    body, peak = asyncio.run(read())
    assert len(body) == size
    assert peak < 1.5 * size, peak / size
