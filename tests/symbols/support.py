"""Helpers for symbol tests: a moto S3 server process, source-map encoding, sample data."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from faultline.db import Database
from faultline.protocol.seams import FrameResolution, SymbolResolver
from faultline.symbols.models import SymbolSet
from faultline.symbols.storage import BlobStorage, new_key
from tests.support.ingest import SAMPLES, load_sample_events
from tests.support.live_server import free_port

FIXTURES = Path(__file__).parent / "fixtures"
CHUNK_ID = "0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b"


def sample_blob() -> bytes:
    return (SAMPLES / "posthog_symbol_set_sourceandmap_v2.bin").read_bytes()


def sample_event() -> dict[str, Any]:
    """The recorded posthog-js `$exception`, its times moved to just before now."""
    return load_sample_events("posthog_js_exception.json")[0]


def sample_frames() -> list[dict[str, Any]]:
    return sample_event()["properties"]["$exception_list"][0]["stacktrace"]["frames"]


def peak_bytes(action: Callable[[], Any]) -> tuple[Any, int]:
    """Run `action` and return its result with the peak of Python allocations meanwhile (every thread): what a
    bomb would have made the process materialise, independent of timing."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def store_symbol_set(db: Database, storage: BlobStorage, project_id: int, ref: str, blob: bytes) -> SymbolSet:
    key = new_key()
    storage.put(key, blob)
    with db.write() as session:
        row = SymbolSet(project_id=project_id, ref=ref, storage_ptr=key, content_hash=sha512(blob))
        session.add(row)
    return row


def resolve_batch(
    db: Database, resolver: SymbolResolver, project_id: int, frames: Sequence[dict[str, Any]]
) -> list[list[FrameResolution] | None]:
    """Frames resolved as one digest batch resolves them: on a read session, then the batch's writes applied in a
    write transaction, with the symbol-set ids corrected the way the pipeline corrects its stack-frame rows."""
    with db.read() as read:
        batch = resolver.batch(read)
        results = [batch.resolve(project_id, frame) for frame in frames]
    committed = False
    try:
        with db.write() as session:
            applied = batch.apply(session)
        committed = True
    finally:
        batch.finish(committed)
    replaced = applied.replaced_ids
    return [
        None
        if result is None
        else [replace(r, symbol_set_id=replaced[r.symbol_set_id]) if r.symbol_set_id in replaced else r for r in result]
        for result in results
    ]


def resolve_frame(
    db: Database, resolver: SymbolResolver, project_id: int, frame: dict[str, Any]
) -> list[FrameResolution] | None:
    return resolve_batch(db, resolver, project_id, [frame])[0]


# ---------------------------------------------------------------------------------------------------------------------
# Source maps


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def vlq(value: int) -> str:
    number = (-value << 1) | 1 if value < 0 else value << 1
    out = ""
    while True:
        digit = number & 31
        number >>= 5
        if number:
            digit |= 32
        out += _B64[digit]
        if not number:
            return out


def encode_mappings(lines: Sequence[Sequence[Sequence[int]]]) -> str:
    """Standard source-map `mappings` from absolute segments per generated line:
    (gen_col, src_idx, src_line, src_col[, name_idx]) — all 0-based."""
    out_lines = []
    prev_src = prev_line = prev_col = prev_name = 0
    for segments in lines:
        prev_gen = 0
        encoded = []
        for segment in segments:
            gen_col, src, line, col = segment[:4]
            parts = [gen_col - prev_gen, src - prev_src, line - prev_line, col - prev_col]
            prev_gen, prev_src, prev_line, prev_col = gen_col, src, line, col
            if len(segment) > 4:
                parts.append(segment[4] - prev_name)
                prev_name = segment[4]
            encoded.append("".join(vlq(p) for p in parts))
        out_lines.append(",".join(encoded))
    return ";".join(out_lines)


# ---------------------------------------------------------------------------------------------------------------------
# Scripts and source maps served from loopback


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Held until the test sets it (a fetch that is "slow" for exactly as long as the test needs), 60 s at most.
    gate: threading.Event | None = None
    # Seconds between single bytes of the response from byte `trickle_from` on (0 = status line and headers too,
    # -1 = right after the headers).
    trickle: float = 0.0
    trickle_from: int = 0


class ScriptServer:
    """A real HTTP server on loopback that records every request it receives."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, with_body: bool) -> None:
                server.hits.append((self.command, self.path))
                route = server.routes.get(self.path, Route(status=404, body=b"not found"))
                if route.delay:
                    time.sleep(route.delay)
                if route.gate is not None:
                    route.gate.wait(60)
                if route.trickle:
                    self._trickle(route, with_body)
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(route.body)

            def _trickle(self, route: Route, with_body: bool) -> None:
                head = [f"HTTP/1.1 {route.status} OK", f"Content-Length: {len(route.body)}", "Connection: close"]
                head += [f"{name}: {value}" for name, value in route.headers.items()]
                header = ("\r\n".join(head) + "\r\n\r\n").encode()
                raw = header + (route.body if with_body else b"")
                start = len(header) if route.trickle_from < 0 else route.trickle_from
                self.close_connection = True
                try:
                    self.wfile.write(raw[:start])
                    self.wfile.flush()
                    for index in range(start, len(raw)):
                        time.sleep(route.trickle)
                        self.wfile.write(raw[index : index + 1])
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@contextmanager
def script_server() -> Iterator[ScriptServer]:
    server = ScriptServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


# ---------------------------------------------------------------------------------------------------------------------
# moto S3 server (a real process on loopback)


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            try:
                httpx.get(url + "/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


S3_ENV = {"FAULTLINE_S3_ACCESS_KEY_ID": "testing", "FAULTLINE_S3_SECRET_ACCESS_KEY": "testing"}


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
