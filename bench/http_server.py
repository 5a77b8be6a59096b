"""HTTP server choice: capture ack rate of the same app under the guarded uvicorn that `faultline serve` runs, plain
uvicorn (httptools, what `serve` ran before the guard) and — when installed — granian and hypercorn, each with its
default settings; the slowest `/_health` answer while one client streams a 100 MiB header; and, in the first
round, how many of 10 real requests succeed while 1,100 slow-loris connections trickle headers into a server
limited to 1,024 open files (the issue's case).

    .venv/bin/python bench/http_server.py [--events 20000] [--rounds 3] [--servers guarded,plain,granian,hypercorn]

granian and hypercorn are not dependencies: `.venv/bin/pip install granian hypercorn` to include them. Servers run
`--no-worker` style (no digest thread) so the numbers are the HTTP path + durable enqueue only; rounds alternate
between servers because the reference box is shared and noisy. The README ("HTTP server") quotes the result.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import ingest  # noqa: E402  (bench/ingest.py: events, bodies, client threads)

OPTIONAL = {"granian": "granian", "hypercorn": "hypercorn"}


def build_app() -> Any:
    """The app `faultline serve --no-worker` builds, on a fresh data dir (prints the token like the banner)."""
    from faultline import migrate
    from faultline.accounts import service as accounts
    from faultline.app import create_app
    from faultline.config import load_settings
    from faultline.db import Database
    from faultline.runtime import Runtime

    settings = load_settings()
    db = Database(settings.database_url)
    migrate.upgrade(db.engine)
    with db.write() as session:
        created = accounts.bootstrap(session)
    if created is not None:
        print(f"project token:  {created.project.api_token}", flush=True)
    return create_app(runtime=Runtime.for_server(settings, db=db), auto_migrate=False)


def child(kind: str, port: int) -> None:
    """Run one server in this process (the parent measures it)."""
    if kind == "granian":
        from granian import Granian

        Granian(
            "http_server:build_app", factory=True, address="127.0.0.1", port=port, interface="asgi", workers=1
        ).serve()
        return
    app = build_app()
    if kind == "guarded":
        from faultline.config import load_settings
        from faultline.http.server import run

        run(app, load_settings())
    elif kind == "plain":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", http="httptools", server_header=False)
    elif kind == "hypercorn":
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.loglevel = "WARNING"
        asyncio.run(serve(app, config))  # type: ignore[arg-type]
    else:
        raise SystemExit(f"unknown server {kind}")


class Child:
    def __init__(self, kind: str, tmp: Path, open_files: int | None = None) -> None:
        self.port = ingest.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
        env.update(
            FAULTLINE_DATA_DIR=str(tmp / "data"),
            FAULTLINE_PORT=str(self.port),
            FAULTLINE_LOG_LEVEL="warning",
            PYTHONPATH=os.pathsep.join([str(BENCH), str(BENCH.parent / "src")]),
        )
        self.log_path = tmp / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, "--port", str(self.port)],
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files)))
            if open_files
            else None,
        )
        if not ingest.wait_healthy(self.url):
            raise RuntimeError(f"{kind} did not start:\n{self.log_path.read_text()}")
        self.token = self.log_path.read_text().split("project token:")[1].split()[0]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def health_under_header_flood(port: int, url: str) -> float:
    """Slowest of five /_health answers while another client streams a 100 MiB header."""
    stop = threading.Event()

    def flood() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /_health HTTP/1.1\r\nHost: b\r\nX-Big: ")
                chunk = b"a" * (1024 * 1024)
                for _ in range(100):
                    if stop.is_set():
                        return
                    sock.sendall(chunk)
                sock.sendall(b"\r\n\r\n")
                sock.recv(100)
        except OSError:
            return

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    time.sleep(0.2)
    slowest = 0.0
    for _ in range(5):
        started = time.monotonic()
        try:
            httpx.get(url + "/_health", timeout=30)
        except httpx.HTTPError:
            pass
        slowest = max(slowest, time.monotonic() - started)
    stop.set()
    thread.join(timeout=60)
    return slowest


def real_requests_under_slowloris(port: int, url: str, slow: int = 1100) -> int:
    """How many of 10 real requests (2 s timeout each, over ~15 s) succeed while `slow` connections trickle
    headers (one more header line per second each, for as long as the server keeps them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, slow + 500)), hard))
    socks: list[socket.socket] = []
    for _ in range(slow):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            sock.sendall(b"GET /_health HTTP/1.1\r\nHost: b\r\n")
            sock.setblocking(False)
            socks.append(sock)
        except OSError:
            continue
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(1.0):
            for sock in socks:
                try:
                    sock.send(b"X-A: b\r\n")
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    ok = 0
    for _ in range(10):
        try:
            ok += httpx.get(url + "/_health", timeout=2).status_code == 200
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop.set()
    dripper.join(timeout=5)
    for sock in socks:
        sock.close()
    return ok


def loris(kind: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = Child(kind, Path(tmp), open_files=1024)
        try:
            return real_requests_under_slowloris(server.port, server.url)
        finally:
            server.stop()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process in the server's process group (granian runs workers of its own): on a
    shared box this moves far less than wall-clock rates do."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ..., utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure(kind: str, n_events: int, clients: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Child(kind, Path(tmp))
        try:
            events = ingest.make_events(n_events)
            ingest.post_all(server.url + "/batch/", ingest.bodies_for(ingest.make_events(500), server.token), clients)
            bodies = ingest.bodies_for(events, server.token)
            cpu_before = group_cpu_seconds(server.process.pid)
            secs, failures = ingest.post_all(server.url + "/batch/", bodies, clients)
            cpu_ms = (group_cpu_seconds(server.process.pid) - cpu_before) * 1000 / len(bodies)
            if failures:
                print(f"    {kind}: {failures} failed requests", flush=True)
            flood = health_under_header_flood(server.port, server.url)
            return n_events / secs, flood, cpu_ms
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--servers", default="guarded,plain,granian,hypercorn")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.port)
        return

    kinds = []
    for kind in args.servers.split(","):
        if kind in OPTIONAL and importlib.util.find_spec(OPTIONAL[kind]) is None:
            print(f"{kind}: not installed, skipped (`.venv/bin/pip install {OPTIONAL[kind]}`)")
            continue
        kinds.append(kind)
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    floods: dict[str, list[float]] = {k: [] for k in kinds}
    survived: dict[str, int] = {}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for round_no in range(args.rounds):
        for kind in kinds:
            rate, flood, cpu_ms = measure(kind, args.events, args.clients)
            rates[kind].append(rate)
            floods[kind].append(flood)
            cpu[kind].append(cpu_ms)
            line = (
                f"round {round_no + 1} {kind:10s} ack {rate:8,.0f} events/s   server CPU {cpu_ms:5.1f} ms/request   "
                f"/_health during flood {flood:6.2f} s"
            )
            if round_no == 0:
                survived[kind] = loris(kind)
                line += f"   real requests ok under slow-loris: {survived[kind]}/10"
            print(line, flush=True)
    print(f"\nmedians over {args.rounds} rounds ({args.events} events, batches of 100, {args.clients} clients):")
    reference = statistics.median(rates["plain"]) if "plain" in rates else None
    cpu_reference = statistics.median(cpu["plain"]) if "plain" in cpu else None
    for kind in kinds:
        rate = statistics.median(rates[kind])
        ratio = f" ({rate / reference:.2f}x plain uvicorn)" if reference else ""
        cpu_ratio = f" ({statistics.median(cpu[kind]) / cpu_reference:.2f}x)" if cpu_reference else ""
        print(
            f"  {kind:10s} ack {rate:8,.0f} events/s{ratio}   server CPU {statistics.median(cpu[kind]):.1f} ms/request"
            f"{cpu_ratio}   slowest /_health during a 100 MiB header: "
            f"{statistics.median(floods[kind]):.2f} s   real requests ok under slow-loris: {survived[kind]}/10"
        )


if __name__ == "__main__":
    main()
