"""What a hostile script host and a hostile symbol-set file cost, measured (issue 11 §3).

* encoded bombs: a loopback server answers with a 256 MiB `br` / `zstd` / `gzip` bomb; `Fetcher.get` (cap 20 MiB,
  the default) is measured for peak Python allocations (tracemalloc, every thread) and time to refusal. Baseline:
  the same response read through httpx's own decoding (`iter_bytes`, what the fetcher did before) in the same
  process — it inflates whole network chunks before any size check;
* trickle: a host sending one byte every 20 ms; wall-clock time until the fetch gives up (deadline 1 s);
* symbol-set files: a 14 KB zstd file inflating to 450 MiB, checked at upload (`check_contents`, streamed, nothing
  kept) and refused at load (`blobformat.read` with the default 100 MiB cap), peak allocations and time.

Targets: peak ≤ cap + a few MiB for every bomb; the trickle ends within 0.2 s of the deadline; the symbol-set
checks stay within a few MiB (the load refusal within the cap).
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli
import httpx
import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faultline.symbols import blobformat, fetch  # noqa: E402

MIB = 1024 * 1024
BOMB = 256 * MIB
CAP = 20 * MIB
DEADLINE = 1.0


def zeros_compressed(coding: str, size: int) -> bytes:
    block = b"\0" * MIB
    if coding == "br":
        br = brotli.Compressor(quality=5)
        return b"".join(br.process(block) for _ in range(size // MIB)) + br.finish()
    if coding == "zstd":
        zstd = zstandard.ZstdCompressor(level=3).compressobj()
        return b"".join(zstd.compress(block) for _ in range(size // MIB)) + zstd.flush()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        for _ in range(size // MIB):
            gz.write(block)
    return out.getvalue()


def symbol_set_bomb(size: int = 450 * MIB) -> bytes:
    """A symbol-data container (posthog-cli's format) whose zstd payload inflates to `size` zero bytes."""
    stream = zstandard.ZstdCompressor(level=19).compressobj()
    block = b"\0" * MIB
    payload = b"".join(stream.compress(block) for _ in range(size // MIB)) + stream.flush()
    return blobformat.MAGIC + struct.pack("<IIB", 2, 2, 1) + payload


class Handler(BaseHTTPRequestHandler):
    """A hostile script host: `bodies` by path (body, Content-Encoding); any `/trickle…` path sends one byte every
    20 ms of a 100 KB body, and `gave_up[path]` records when the client stopped reading it."""

    bodies: dict[str, tuple[bytes, str]] = {}
    gave_up: dict[str, float] = {}

    def do_GET(self) -> None:
        if self.path.startswith("/trickle"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                self.gave_up[self.path] = time.monotonic()
            return
        if self.path not in self.bodies:
            self.send_error(404)
            return
        body, coding = self.bodies[self.path]
        self.send_response(200)
        self.send_header("Content-Encoding", coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def measured(action: Callable[[], Any]) -> tuple[float, float, str]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        action()
        outcome = "completed"
    except Exception as exc:  # the outcome is part of the measurement
        outcome = f"{type(exc).__name__}: {str(exc)[:70]}"
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / MIB, elapsed, outcome


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = fetch.Fetcher(fetch.FetchPolicy(allow_internal_ips=True, max_bytes=CAP, deadline=DEADLINE))
    print(f"encoded bombs of {BOMB // MIB} MiB, cap {CAP // MIB} MiB (peak = Python allocations, all threads)")
    for coding in ("br", "zstd", "gzip"):
        body = zeros_compressed(coding, BOMB)
        Handler.bodies[f"/{coding}.js"] = (body, coding)
        url = f"{base}/{coding}.js"
        ours = measured(lambda url=url: fetcher.get(url))
        fetcher.failed_hosts.clear()

        def httpx_decoding(url: str = url) -> None:
            total = 0
            with httpx.stream("GET", url) as response:
                for chunk in response.iter_bytes(64 * 1024):
                    total += len(chunk)
                    if total > CAP:
                        raise ValueError(f"exceeded the {CAP} byte limit")

        baseline = measured(httpx_decoding)
        print(
            f"  {coding:4} ({len(body):>7} B)  fetcher: peak {ours[0]:6.1f} MiB in {ours[1]:.2f} s ({ours[2][:40]})"
            f"  |  httpx decoding: peak {baseline[0]:6.1f} MiB in {baseline[1]:.2f} s"
        )

    started = time.perf_counter()
    try:
        fetcher.get(f"{base}/trickle.js")
    except fetch.FetchError as exc:
        outcome = type(exc).__name__
    print(
        f"trickle (1 byte / 20 ms, 100 KB): gave up after {time.perf_counter() - started:.2f} s ({outcome}); "
        f"deadline {DEADLINE:g} s, target ≤ {DEADLINE + 0.2:g} s"
    )

    blob = symbol_set_bomb()
    print(
        f"symbol-set file: {len(blob) / 1024:.1f} KB inflating to 450 MiB, "
        f"cap {blobformat.MAX_DECOMPRESSED_BYTES // MIB} MiB"
    )
    peak, elapsed, outcome = measured(
        lambda: blobformat.check_contents(io.BytesIO(blob), blobformat.MAX_DECOMPRESSED_BYTES)
    )
    print(f"  upload check (streamed, nothing kept): peak {peak:.1f} MiB in {elapsed:.2f} s ({outcome[:60]})")
    peak, elapsed, outcome = measured(lambda: blobformat.read(blob))
    print(f"  load (stops at the cap):                peak {peak:.1f} MiB in {elapsed:.2f} s ({outcome[:60]})")
    fetcher.close()
    server.shutdown()


if __name__ == "__main__":
    main()
