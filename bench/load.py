"""Async load generator: recorded-shape error events over real HTTP, flat out or at a fixed rate (issue 18).

    .venv/bin/python bench/load.py                      # own Faultline server: PostHog flat out, then half rate
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --protocol posthog --token phc_… \\
        --project-id 1 --api-key phx_… [--events 50000] [--seconds 20] [--rate 4000] [--json]
    .venv/bin/python bench/load.py --url … --protocol sentry --project-id 1 --sentry-key … --size 50000
    .venv/bin/python bench/load.py --protocol sentry --seconds 20 --py-spy build/bench/sentry.svg  # profile

Streams (built from the recorded samples in shared/samples, fresh ids per event, timestamps of the run):
* `posthog`: `POST /batch/` bodies of `--batch` (100) posthog-python `$exception` events of ~3 KB each;
* `sentry`: one sentry-python envelope per request (`POST /api/<project>/envelope/`, `X-Sentry-Auth`), padded with
  log breadcrumbs (the SDK sends up to 100) to `--size` bytes of event payload: 5 KB or 50 KB in `make bench`.
Every 100th event carries an exception type never seen before (~1 % new fingerprints, a new issue each); the others
cycle through 20 recurring types.

What it reports: events acknowledged per second (2xx answers, from the first send to the last answer), errors by
status, ack latency p50/p95/p99, and — when it can count stored events (`--api-key` for Faultline's ingestion report,
or a counter given by the caller, as bench/compare_bugsink.py does for Bugsink) — digested/s: acknowledged events
divided by the time from the first send until the last of them is stored (queryable). A run is bounded by `--events`
and `--seconds` (whichever comes first) and waits at most `--drain-seconds` for the digest.

At a fixed rate (`--rate` events/s) requests start on a schedule and latency is measured from each request's
*scheduled* start, so a stalled server cannot hide its stall by slowing the client down (no coordinated omission).
Flat out, `--concurrency` connections send back to back.

Loopback only: the generator refuses any other host (it is a load generator, not a tool to point at other people).
The client is aiohttp (keep-alive, ~5x less CPU per request than httpx on this machine): on a 2-core box the client
shares the CPU with the server, so its cost matters; its CPU time is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import ipaddress
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SAMPLES = ROOT.parent / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")

NEW_FINGERPRINT_EVERY = 100  # ~1 % of events start a new issue
RECURRING_FINGERPRINTS = 20


# ---------------------------------------------------------------------------------------------------------------------
# Payloads


class Template:
    """JSON bytes with `@@NAME@@` markers, rendered by joining the literal pieces with the values: building a
    100-event body this way costs microseconds, where `copy.deepcopy` + `orjson.dumps` per event would make the
    client the bottleneck on a 2-core machine."""

    MARKER = re.compile(rb"@@([A-Z]+)@@")

    def __init__(self, data: bytes) -> None:
        self.pieces: list[bytes] = []
        self.names: list[str] = []
        last = 0
        for match in self.MARKER.finditer(data):
            self.pieces.append(data[last : match.start()])
            self.names.append(match.group(1).decode())
            last = match.end()
        self.pieces.append(data[last:])

    def render(self, values: dict[str, bytes]) -> bytes:
        out = [self.pieces[0]]
        for name, piece in zip(self.names, self.pieces[1:], strict=True):
            out.append(values[name])
            out.append(piece)
        return b"".join(out)


def fingerprint_name(run: str, index: int) -> bytes:
    """The exception type of event `index`: ~1 % never seen before (a new fingerprint), the rest recurring."""
    if index % NEW_FINGERPRINT_EVERY == 0:
        return f"BenchNew{run}E{index}Error".encode()
    return f"BenchRecurring{index % RECURRING_FINGERPRINTS}Error".encode()


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Stream:
    """Request bodies of one kind; `body(first)` holds events `first … first + events_per_request - 1`."""

    events_per_request = 1
    path = "/"
    event_bytes = 0

    def __init__(self, run: str | None = None) -> None:
        self.run = run or os.urandom(4).hex()

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def body(self, first: int) -> bytes:
        raise NotImplementedError


class PostHogStream(Stream):
    """posthog-python `$exception` batches to `/batch/` (the token in the body, as the SDK sends it)."""

    path = "/batch/"

    def __init__(self, token: str, *, batch: int = 100, run: str | None = None) -> None:
        super().__init__(run)
        self.token = token
        self.events_per_request = batch
        event = orjson.loads((SAMPLES / "posthog_python_exception.json").read_bytes())["batch"][0]
        event["uuid"] = "@@UUID@@"
        event["distinct_id"] = "@@USER@@"
        event["timestamp"] = _now_iso()
        event["properties"]["$exception_list"][0]["type"] = "@@FP@@"
        self.event = Template(orjson.dumps(event))
        self.event_bytes = len(self.event.render({"UUID": b"0" * 36, "USER": b"user-0", "FP": b"E"}))
        self.head = b'{"batch":['
        self.tail = orjson.dumps({"api_key": token, "sent_at": _now_iso(), "historical_migration": False})
        self.tail = b"]," + self.tail[1:]

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "posthog-python/7.0.0 (faultline bench)"}

    def body(self, first: int) -> bytes:
        events = []
        for i in range(first, first + self.events_per_request):
            raw = os.urandom(16).hex()
            uid = f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}".encode()
            values = {"UUID": uid, "USER": f"user-{i % 200}".encode(), "FP": fingerprint_name(self.run, i)}
            events.append(self.event.render(values))
        return self.head + b",".join(events) + self.tail


def padded_sentry_event(size: int) -> dict[str, Any]:
    """The recorded sentry-python event, its breadcrumbs filled with log breadcrumbs until the payload is ~`size`
    bytes (the SDK keeps up to 100; a 50 KB event also gets bigger ones, as with SQL or HTTP breadcrumbs)."""
    lines = (SAMPLES / "sentry_python_envelope.txt").read_bytes().split(b"\n")
    event = orjson.loads(lines[2])
    event["timestamp"] = _now_iso()
    crumbs: list[dict[str, Any]] = []
    event["breadcrumbs"] = {"values": crumbs}
    base = len(orjson.dumps(event))
    per = 100 if size <= 10_000 else 480
    n = 0
    while base < size:
        crumb = {
            "type": "default",
            "category": "billing" if n % 3 else "httplib",
            "level": "info",
            "message": f"charge attempt {n} for user-{n % 7}: " + "x" * per,
            "timestamp": _now_iso(),
            "data": {"attempt": n, "url": f"https://payments.example/v1/charges/{n}"},
        }
        crumbs.append(crumb)
        base += len(orjson.dumps(crumb)) + 1
        n += 1
    return event


class SentryStream(Stream):
    """sentry-python envelopes (envelope header, item header, event), one event per request."""

    def __init__(self, project_id: int | str, key: str, *, size: int = 5_000, run: str | None = None) -> None:
        super().__init__(run)
        self.path = f"/api/{project_id}/envelope/"
        self.key = key
        event = padded_sentry_event(size)
        event["event_id"] = "@@EID@@"
        event["exception"]["values"][0]["type"] = "@@FP@@"
        self.payload = Template(orjson.dumps(event))
        lines = (SAMPLES / "sentry_python_envelope.txt").read_bytes().split(b"\n")
        header = orjson.loads(lines[0])
        header["event_id"] = "@@EID@@"
        header["sent_at"] = _now_iso()
        header["trace"]["public_key"] = key
        self.header = Template(orjson.dumps(header))
        self.event_bytes = len(self.payload.render({"EID": b"0" * 32, "FP": b"E"}))

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/x-sentry-envelope",
            "User-Agent": "sentry.python/2.75.0",
            "X-Sentry-Auth": f"Sentry sentry_key={self.key}, sentry_version=7, sentry_client=sentry.python/2.75.0",
        }

    def body(self, first: int) -> bytes:
        values = {"EID": os.urandom(16).hex().encode(), "FP": fingerprint_name(self.run, first)}
        payload = self.payload.render(values)
        item = b'{"type":"event","content_type":"application/json","length":%d}' % len(payload)
        return self.header.render(values) + b"\n" + item + b"\n" + payload + b"\n"


# ---------------------------------------------------------------------------------------------------------------------
# Measuring


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"bench/load.py sends to loopback addresses only, not {host!r}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclasses.dataclass
class LoadResult:
    label: str
    mode: str  # "flat out" or "<rate>/s"
    event_bytes: int
    sent_events: int = 0
    acked_events: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0  # first send → last answer
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    digested: int | None = None  # acknowledged events found stored
    digest_seconds: float | None = None  # first send → the last of them stored (or the drain timeout)
    client_cpu_s: float = 0.0

    @property
    def acked_per_s(self) -> float:
        return self.acked_events / self.seconds if self.seconds else 0.0

    @property
    def digested_per_s(self) -> float | None:
        if self.digested is None or not self.digest_seconds:
            return None
        return self.digested / self.digest_seconds

    @property
    def backlog(self) -> int:
        return self.acked_events - (self.digested or 0)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "mode": self.mode,
            "event_bytes": self.event_bytes,
            "sent_events": self.sent_events,
            "acked_events": self.acked_events,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
            "acked_per_s": round(self.acked_per_s, 1),
            "digested": self.digested,
            "digest_seconds": None if self.digest_seconds is None else round(self.digest_seconds, 3),
            "digested_per_s": None if self.digested_per_s is None else round(self.digested_per_s, 1),
            "backlog": self.backlog if self.digested is not None else None,
            "ack_ms": {str(q): round(self.p(q), 2) for q in (50, 95, 99)} if self.latencies_ms else None,
            "requests": len(self.latencies_ms),
            "client_cpu_s": round(self.client_cpu_s, 2),
        }

    def line(self) -> str:
        s = self.summary()
        text = (
            f"{self.label} [{self.mode}, {self.event_bytes / 1000:.1f} kB/event]: acked {self.acked_events} of "
            f"{self.sent_events} in {self.seconds:.1f}s = {self.acked_per_s:,.0f} events/s"
        )
        if self.digested_per_s is not None:
            text += f"; digested {self.digested} = {self.digested_per_s:,.0f} events/s"
            if self.backlog:
                text += f" (drain timed out, {self.backlog} left)"
        if s["ack_ms"]:
            a = s["ack_ms"]
            text += f"; ack p50/p95/p99 {a['50']:.1f}/{a['95']:.1f}/{a['99']:.1f} ms"
        if self.errors:
            text += f"; errors {dict(self.errors)}"
        return text


Counter_ = Callable[[], Awaitable[int]]


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], result: LoadResult, n: int
) -> None:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            if 200 <= response.status < 300:
                result.acked_events += n
            else:
                result.errors[str(response.status)] += n
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.errors[type(exc).__name__] += n


async def run_load(
    url: str,
    stream: Stream,
    *,
    label: str = "",
    events: int = 10_000,
    seconds: float = 20.0,
    rate: float | None = None,
    concurrency: int = 16,
    stored: Counter_ | None = None,
    drain_seconds: float = 60.0,
    poll_s: float = 0.2,
    on_progress: Callable[[float, int], None] | None = None,
) -> LoadResult:
    """Send up to `events` events (or for `seconds`), flat out or at `rate` events/s; then, when `stored` counts
    stored events, wait until every acknowledged event is stored (at most `drain_seconds`). `on_progress(t, acked)`
    is called after each answer (bench/soak.py derives the digest lag from it)."""
    require_loopback(url)
    target = url.rstrip("/") + stream.path
    headers = stream.headers()
    result = LoadResult(label or type(stream).__name__, f"{rate:,.0f}/s" if rate else "flat out", stream.event_bytes)
    per = stream.events_per_request
    events = -(-events // per) * per  # whole requests
    stored_before = await stored() if stored else 0
    cpu0 = time.process_time()
    connector = aiohttp.TCPConnector(limit=concurrency if not rate else max(concurrency, 256))
    timeout = aiohttp.ClientTimeout(total=60)
    next_first = 0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + seconds

        def take() -> int | None:
            nonlocal next_first
            if next_first >= events or time.perf_counter() >= deadline:
                return None
            first = next_first
            next_first += per
            result.sent_events += per
            return first

        async def timed(first: int, t0: float) -> None:
            await _post(session, target, stream.body(first), headers, result, per)
            now = time.perf_counter()
            result.latencies_ms.append((now - t0) * 1000)
            if on_progress:
                on_progress(now - start, result.acked_events)

        if rate is None:

            async def client() -> None:
                while (first := take()) is not None:
                    await timed(first, time.perf_counter())

            await asyncio.gather(*(client() for _ in range(concurrency)))
        else:
            interval = per / rate
            tasks: set[asyncio.Task[None]] = set()
            i = 0
            while True:
                due = start + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                first = take()
                if first is None:
                    break
                task = asyncio.create_task(timed(first, due))  # latency from the scheduled start
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
        result.client_cpu_s = time.process_time() - cpu0
        if stored is not None:
            drain_deadline = time.perf_counter() + drain_seconds
            last = stored_before
            last_change = time.perf_counter()
            while True:
                count = await stored() - stored_before
                if count != last:
                    last, last_change = count, time.perf_counter()
                if count >= result.acked_events or time.perf_counter() > drain_deadline:
                    break
                await asyncio.sleep(poll_s)
            result.digested = last
            result.digest_seconds = last_change - start if last >= result.acked_events else time.perf_counter() - start
    return result


def faultline_stored(url: str, project_id: int | str, api_key: str) -> Counter_:
    """Events Faultline has stored for the project: the digest's `accepted` counter of the ingestion report, written
    in the same transaction as the events (so it is exactly what a query can find)."""
    require_loopback(url)
    endpoint = f"{url.rstrip('/')}/api/environments/{project_id}/error_tracking/ingestion/?days=2&errors_limit=1"
    headers = {"Authorization": f"Bearer {api_key}"}

    async def count() -> int:
        async with aiohttp.ClientSession() as session, session.get(endpoint, headers=headers) as response:
            response.raise_for_status()
            report = await response.json()
        return int(report["totals"].get("accepted", 0))

    return count


async def faultline_queue_pending(url: str, project_id: int | str, api_key: str) -> int | None:
    endpoint = f"{url.rstrip('/')}/api/environments/{project_id}/error_tracking/ingestion/?days=1&errors_limit=1"
    async with (
        aiohttp.ClientSession() as session,
        session.get(endpoint, headers={"Authorization": f"Bearer {api_key}"}) as response,
    ):
        response.raise_for_status()
        return (await response.json())["queue"]["pending"]


class RssSampler:
    """Resident memory of a process and its children (gunicorn workers, snappea), sampled every `interval_s` in
    a thread: `peak_mib` since start (or the last `reset()`), `now_mib()` on demand."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now_mib(self) -> float:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total / (1024 * 1024)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mib = max(self.peak_mib, self.now_mib())

    def reset(self) -> None:
        self.peak_mib = self.now_mib()

    def cpu_seconds(self) -> float:
        """User + system CPU of the process tree so far: on a shared machine the server's rate moves with the load,
        its CPU per event much less (issue 18's before/after measure of the live server)."""
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def __enter__(self) -> RssSampler:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def _stream_from(args: argparse.Namespace) -> Stream:
    if args.protocol == "posthog":
        return PostHogStream(args.token, batch=args.batch)
    return SentryStream(args.project_id, args.sentry_key, size=args.size)


async def _measure(args: argparse.Namespace) -> list[LoadResult]:
    stored = faultline_stored(args.url, args.project_id, args.api_key) if args.api_key else None
    stream = _stream_from(args)
    common = {"events": args.events, "seconds": args.seconds, "concurrency": args.concurrency}
    results = [
        await run_load(
            args.url, stream, label=args.protocol, rate=args.rate, stored=stored, drain_seconds=args.drain, **common
        )
    ]
    if args.half_rate and args.rate is None and results[0].acked_per_s:
        half = results[0].acked_per_s / 2
        half_run = await run_load(args.url, stream, label=args.protocol, rate=half, **common)
        results.append(half_run)
    return results


def _py_spy(pid: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """`py-spy record` on the server for the flat-out run: all threads (HTTP loop, queue writer, digest), sampled
    without pausing the process; `.svg` → flame graph, `.json` → speedscope, anything else → collapsed stacks."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    suffix = Path(args.py_spy).suffix
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(suffix, "raw")
    argv = [binary, "record", "--pid", str(pid), "--duration", str(max(1, int(args.seconds))), "--rate", "100"]
    argv += ["--threads", "--nonblocking", "--format", fmt, "-o", str(args.py_spy)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _own_server(args: argparse.Namespace) -> list[LoadResult]:
    """No `--url`: a fresh `faultline serve` (embedded worker, default settings) in a temp dir."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.support.live_server import LiveServer

    with tempfile.TemporaryDirectory() as tmp:
        overrides = dict(item.split("=", 1) for item in args.server_env)
        server = LiveServer(Path(tmp) / "data", env_overrides=overrides)
        server.start(timeout=180)  # a shared 2-core machine can take a while
        try:
            creds = server.credentials()
            args.url, args.project_id = server.url, creds["project_id"]
            args.token, args.api_key = creds["project_token"], creds["api_key"]
            dsn = re.search(r"Sentry DSN:\s+\S+//(\w+)@", server.output())
            args.sentry_key = dsn.group(1) if dsn else None
            if args.protocol == "sentry" and not args.sentry_key:
                raise SystemExit("this Faultline prints no Sentry DSN")
            assert server.process is not None
            with RssSampler(server.process.pid) as rss:
                idle = rss.now_mib()
                # Unmeasured warm-up: FastAPI builds its route contexts on first use.
                stream = _stream_from(args)
                stored = faultline_stored(args.url, args.project_id, args.api_key)
                warm = run_load(args.url, stream, events=10 * stream.events_per_request, concurrency=2, stored=stored)
                asyncio.run(warm)  # waits for its events to be stored, so they do not count in the measured run
                spy = _py_spy(server.process.pid, args) if args.py_spy else None
                cpu_before = rss.cpu_seconds()
                results = asyncio.run(_measure(args))
                cpu = rss.cpu_seconds() - cpu_before
                n_stored = sum(r.digested if r.digested is not None else r.acked_events for r in results)
                if spy is not None:
                    spy.wait(timeout=args.seconds + 120)
                    print(f"py-spy profile of the flat-out run: {args.py_spy}")
            print(f"faultline serve: idle RSS {idle:.0f} MiB, peak {rss.peak_mib:.0f} MiB under load")
            per_event = cpu / max(n_stored, 1) * 1e6
            print(
                f"faultline serve: {cpu:.1f} s CPU for {n_stored} events stored = {per_event:,.0f} µs per event "
                "(both phases; HTTP, queue writer and digest threads)"
            )
            return results
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="server base URL (loopback); none = start a Faultline server of its own")
    parser.add_argument("--protocol", choices=("posthog", "sentry"), default="posthog")
    parser.add_argument("--token", help="PostHog project token (phc_…)")
    parser.add_argument("--project-id", help="project id (Sentry URL; Faultline ingestion report)")
    parser.add_argument("--sentry-key", help="public key of the project's DSN")
    parser.add_argument("--api-key", help="Faultline personal API key (phx_…): count stored events for digested/s")
    parser.add_argument("--events", type=int, default=200_000, help="stop after this many events")
    parser.add_argument("--seconds", type=float, default=20.0, help="stop sending after this long")
    parser.add_argument("--rate", type=float, help="events per second (fixed rate); none = flat out")
    parser.add_argument("--half-rate", action="store_true", help="after a flat-out run, run at half its acked rate")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (flat out)")
    parser.add_argument("--batch", type=int, default=100, help="PostHog events per request")
    parser.add_argument("--size", type=int, default=5_000, help="Sentry event payload bytes")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the digest after sending")
    parser.add_argument("--json", action="store_true", help="print one JSON object per run instead of text")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="own server only: a setting, repeatable"
    )
    parser.add_argument("--py-spy", help="own server only: profile the flat-out run into this file (.svg/.json/raw)")
    args = parser.parse_args(argv)
    if args.url is None:
        args.half_rate = True
        results = _own_server(args)
    else:
        if args.protocol == "posthog" and not args.token:
            parser.error("--protocol posthog needs --token")
        if args.protocol == "sentry" and not (args.project_id and args.sentry_key):
            parser.error("--protocol sentry needs --project-id and --sentry-key")
        if args.api_key and not args.project_id:
            parser.error("--api-key needs --project-id")
        results = asyncio.run(_measure(args))
    for result in results:
        print(orjson.dumps(result.summary()).decode() if args.json else result.line())
    if not args.json and len(results) == 2:
        print(
            f"p99 ack at half the flat-out rate: {results[1].p(99):.1f} ms (target < 20 ms); "
            f"median {statistics.median(results[1].latencies_ms or [0]):.1f} ms"
        )


if __name__ == "__main__":
    main()
