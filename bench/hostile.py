"""Hostile traffic against a real `faultline serve` (issue 11): what each attack gets back, how long it takes, how
much memory the server needs for it, whether `/_health` keeps answering, and whether memory comes back after.

    .venv/bin/python bench/hostile.py [--concurrency 8] [--repeat 2] [--cases gzip,loris,...]

One server, started like an operator would (`faultline serve`: embedded worker, default for every limit, a temp
data dir of its own; only `FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS=true` so the loopback script host below can be
fetched). Each case runs `--concurrency` clients at once, `--repeat` requests each. Per case it prints the answers
(status and error code, with counts), the median and slowest latency, the server's peak RSS during the case (the
kernel's high-water mark, reset before each case through /proc/<pid>/clear_refs, so no spike between samples is
missed), its RSS 1.5 s after the case, and the slowest `/_health` answer of a prober that asks every 50 ms for the
whole run. Then the server's RSS after a few seconds of idleness, and the issue's targets, each PASS or MISS:

* no case raises RSS above 600 MiB at concurrency 8 (defaults);
* `/_health` answers within 100 ms throughout;
* idle RSS after the run is back under 200 MiB.

Everything is loopback; the run is bounded (~2-3 minutes, most of it the slow-connection cases waiting out the
server's deadlines: 10 s for headers, 30 s for bodies, 20 s for a script fetch). A second, `--no-worker` server
with a 1,000-event queue bound shows the queue-full answer. The 2-core reference box is shared, so latencies move
from run to run; the README ("Hostile traffic") quotes a run.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.live_server import LiveServer  # noqa: E402
from tests.support.slow_clients import SlowClients, read_until_closed, status_of  # noqa: E402

import hostile_fetch  # noqa: E402  (bench/hostile_fetch.py: the hostile script host, bombs)
import ingest  # noqa: E402  (bench/ingest.py: realistic events)
from faultline.config import Settings  # noqa: E402

MIB = 1024 * 1024
CAP = 20 * MIB  # FAULTLINE_MAX_DECOMPRESSED_BYTES and FAULTLINE_MAX_BODY_BYTES defaults
TARGET_PEAK_MIB = 600
TARGET_HEALTH_S = 0.100
TARGET_IDLE_MIB = 200
SETTLE_S = 5.0
AFTER_CASE_S = 1.5  # the server trims at most once a second after large requests


# ---------------------------------------------------------------------------------------------------------------------
# Measuring the server


def reset_peak(pid: int) -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) of `pid` to its current RSS (Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Prober:
    """GET /_health every `interval` seconds for the whole run, from a process of its own: a thread of this one
    would wait for this process's GIL behind the client threads and count that as the server's latency (it did:
    300-600 ms "health" latencies that a separate process did not see). Samples go to a file, one line each."""

    def __init__(self, url: str, path: Path, interval: float = 0.05) -> None:
        self.path = path
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--probe", url, "--probe-out", str(path), "--probe-interval", str(interval)]
        )

    @property
    def samples(self) -> list[tuple[float, float, int | None]]:
        """(started, seconds, status or None), `started` on the machine's monotonic clock."""
        found = []
        for line in self.path.read_text().splitlines() if self.path.exists() else []:
            started, seconds, status = line.split()
            found.append((float(started), float(seconds), None if status == "-" else int(status)))
        return found

    def between(self, start: float, end: float) -> list[tuple[float, float, int | None]]:
        return [s for s in self.samples if start <= s[0] <= end]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=35)


def probe(url: str, out: Path, interval: float) -> None:
    """The prober process: one keep-alive connection, a line per answer, until terminated."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with httpx.Client(timeout=30) as client, out.open("a", buffering=1) as sink:
        while True:
            started = time.monotonic()
            try:
                status = str(client.get(url + "/_health").status_code)
            except httpx.HTTPError:
                status = "-"
            sink.write(f"{started} {time.monotonic() - started} {status}\n")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


# ---------------------------------------------------------------------------------------------------------------------
# Cases


@dataclass
class Ctx:
    server: LiveServer
    token: str
    api_key: str
    project_id: int
    script_host: str
    concurrency: int
    repeat: int


Answer = tuple[str, float]  # ("413 payload_too_large", seconds)


@dataclass
class Case:
    name: str
    run: Callable[[Ctx], list[Answer]]
    note: str = ""


@dataclass
class Result:
    case: Case
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    peak_mib: int = 0
    rss_after_mib: int = 0
    health_max: float = 0.0
    health_failed: int = 0
    health_over: int = 0  # probes slower than the target
    health_count: int = 0
    seconds: float = 0.0


def answer_of(response: httpx.Response) -> str:
    code = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code = str(body.get("code") or "")
    except ValueError:
        pass
    return f"{response.status_code} {code}".strip()


def concurrently(ctx: Ctx, action: Callable[[int], Answer]) -> list[Answer]:
    """`action(i)` for i in range(concurrency × repeat), `concurrency` at a time."""
    with ThreadPoolExecutor(ctx.concurrency) as pool:
        return list(pool.map(action, range(ctx.concurrency * ctx.repeat)))


def posting(
    body: bytes | Callable[[int], bytes], *, path: str = "/batch/", headers: dict[str, str] | None = None
) -> Callable[[Ctx], list[Answer]]:
    def run(ctx: Ctx) -> list[Answer]:
        def one(i: int) -> Answer:
            content = body(i) if callable(body) else body
            started = time.monotonic()
            try:
                response = httpx.post(ctx.server.url + path, content=content, headers=headers or {}, timeout=120)
                answer = answer_of(response)
            except httpx.HTTPError as exc:
                answer = type(exc).__name__
            return answer, time.monotonic() - started

        return concurrently(ctx, one)

    return run


def envelope(token: str, inner: bytes) -> bytes:
    return b'{"api_key":"' + token.encode() + b'","batch":' + inner + b"}"


def js_event(url: str) -> dict[str, Any]:
    """A posthog-js `$exception` whose only frame is in `url`: digesting it makes the worker fetch that script."""
    frame = {"platform": "web:javascript", "filename": url, "function": "i", "lineno": 1, "colno": 59, "in_app": True}
    return {
        "event": "$exception",
        "uuid": str(uuid.uuid4()),
        "distinct_id": "hostile-bench",
        "properties": {
            "$lib": "web",
            "$exception_list": [
                {"type": "TypeError", "value": f"from {url}", "stacktrace": {"type": "raw", "frames": [frame]}}
            ],
        },
    }


def gzip_trailing_byte(token: str) -> bytes:
    """The 140-byte body that once made a gzip decoder loop forever: a complete gzip stream, then one more byte."""
    doc = envelope(token, orjson.dumps([{"event": "$pageview", "properties": {"x": "y" * 20}}]))
    return gzip.compress(doc, mtime=0) + b"\0"


def many_gzip_members() -> bytes:
    """1,000 empty gzip members (20 bytes each): more than the 16 a body may hold."""
    return gzip.compress(b"", mtime=0) * 1000


def deflate_bomb(size: int = 1024 * MIB) -> bytes:
    compressor = zlib.compressobj(9)
    block = b"\0" * MIB
    return b"".join(compressor.compress(block) for _ in range(size // MIB)) + compressor.flush()


def gzip_stream(parts: int, part: bytes, head: bytes = b"", tail: bytes = b"") -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(head)
        for _ in range(parts):
            gz.write(part)
        gz.write(tail)
    return out.getvalue()


def amplification_body(token: str) -> bytes:
    """The issue's body: ~96 KB of gzip holding a batch of ~33 M `{}` (100 MB)."""
    return gzip_stream(
        33_000_000 // 100_000, b"{}," * 100_000, b'{"api_key":"' + token.encode() + b'","batch":[', b"{}]}"
    )


def value_bomb(token: str, value: bytes) -> bytes:
    """A gzipped batch of `value,` repeated to just under the decompressed cap: far more values than allowed."""
    count = (CAP - 200) // len(value) - 1
    return gzip_stream(count // 10_000, value * 10_000, b'{"api_key":"' + token.encode() + b'","batch":[', b"{}]}")


def values_at_the_limit(token: str) -> bytes:
    """99 % of FAULTLINE_MAX_JSON_VALUES (its default) in `{}` events: under the limit, so the body is parsed, then
    refused for holding more than 10,000 events. The most memory a body can legitimately make the server spend."""
    chunks = int(Settings.max_json_values * 0.99) // 10_000
    return gzip_stream(chunks, b"{}," * 10_000, b'{"api_key":"' + token.encode() + b'","batch":[', b"{}]}")


def deep_nesting(token: str) -> bytes:
    return envelope(token, b"[" * 100_000 + b"]" * 100_000)


def lone_surrogates(token: str) -> bytes:
    """100 events whose messages end in half an emoji (what JSON.stringify writes for a cut string): all accepted."""
    events = [
        (orjson.dumps(js_event("https://example.invalid/app.js"))[:-1] + b',"x":"cut \\ud83d"}') for _ in range(100)
    ]
    return envelope(token, b"[" + b",".join(events) + b"]")


def normal_batch(token: str) -> Callable[[int], bytes]:
    events = ingest.make_events(100)
    return lambda i: orjson.dumps({"api_key": token, "batch": [dict(e, uuid=str(uuid.uuid4())) for e in events]})


def over_body_cap(chunked: bool) -> Callable[[Ctx], list[Answer]]:
    body = b"x" * (CAP + MIB)

    def run(ctx: Ctx) -> list[Answer]:
        def one(i: int) -> Answer:
            started = time.monotonic()
            content: Any = (body[o : o + MIB] for o in range(0, len(body), MIB)) if chunked else body
            try:
                response = httpx.post(ctx.server.url + "/batch/", content=content, timeout=120)
                answer = answer_of(response)
            except httpx.HTTPError as exc:  # the server may answer and close before the client finished sending
                answer = type(exc).__name__
            return answer, time.monotonic() - started

        return concurrently(ctx, one)

    return run


def huge_header(ctx: Ctx) -> list[Answer]:
    """A request whose one header streams 100 MiB."""

    def one(i: int) -> Answer:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", ctx.server.port), timeout=30) as sock:
            try:
                sock.sendall(b"GET /_health HTTP/1.1\r\nHost: bench\r\nX-Big: ")
                chunk = b"a" * MIB
                for _ in range(100):
                    sock.sendall(chunk)
                sock.sendall(b"\r\n\r\n")
            except OSError:
                pass  # the server answered and closed: read what it said
            response = read_until_closed(sock, 10)
        status = status_of(response)
        code = orjson.loads(response.split(b"\r\n\r\n", 1)[1]).get("code", "") if b"\r\n\r\n{" in response else ""
        return f"{status} {code}".strip() if status else "closed", time.monotonic() - started

    return concurrently(ctx, one)


def slow_connections(count: int, opening: bytes, drip: bytes, give_up_after: float) -> Callable[[Ctx], list[Answer]]:
    def run(ctx: Ctx) -> list[Answer]:
        clients = SlowClients(ctx.server.port, count, opening, drip, interval=0.3, give_up_after=give_up_after).start()
        try:
            clients.wait(give_up_after)
        finally:
            clients.stop()
        answers = []
        for conn in clients.connections:
            status = status_of(conn.response)
            answer = f"{status} " + ("request_timeout" if b"request_timeout" in conn.response else "")
            answers.append(
                (answer.strip() if status else "closed" if conn.closed_after else "still open", conn.closed_after or 0)
            )
        return answers

    return run


def waiting_for(done: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not done() and time.monotonic() - started < timeout:
        time.sleep(0.1)
    return time.monotonic() - started


def script_fetch(kind: str) -> Callable[[Ctx], list[Answer]]:
    """`concurrency` events, each with a frame in a script of the hostile host; answer = what the digest recorded
    (the symbol set's failure) or what the host saw (the fetcher hanging up), latency = capture → that moment."""

    def run(ctx: Ctx) -> list[Answer]:
        run_id = uuid.uuid4().hex[:8]
        paths = [f"/{kind}-{run_id}-{i}.js" for i in range(ctx.concurrency)]
        if kind == "br-bomb":
            body = hostile_fetch.zeros_compressed("br", 256 * MIB)
            for path in paths:
                hostile_fetch.Handler.bodies[path] = (body, "br")
        urls = [ctx.script_host + p for p in paths]
        started = time.monotonic()
        posting(lambda i: envelope(ctx.token, orjson.dumps([js_event(urls[i % len(urls)])])))(
            Ctx(**{**ctx.__dict__, "repeat": 1})
        )
        if kind == "trickle":
            # The first fetch gives up at FAULTLINE_SOURCEMAP_DEADLINE (20 s); the host is then skipped for the
            # others (negative cache), so one hang-up is the whole story.
            waited = waiting_for(lambda: bool(set(hostile_fetch.Handler.gave_up) & {*paths}), 60)
            seen = [p for p in paths if p in hostile_fetch.Handler.gave_up]
            return [(f"fetch abandoned ({len(seen)}/{len(paths)} fetched, rest skipped)", waited)]
        api = f"{ctx.server.url}/api/environments/{ctx.project_id}/error_tracking/symbol_sets/?status=invalid"
        reasons: dict[str, str] = {}

        def recorded() -> bool:
            response = httpx.get(api, headers={"Authorization": f"Bearer {ctx.api_key}"}, timeout=30)
            for row in response.json().get("results", []):
                if row.get("ref") in urls:
                    reasons[row["ref"]] = row.get("failure_reason") or ""
            return len(reasons) == len(urls)

        waited = waiting_for(recorded, 60)
        del started
        counts = collections.Counter(
            "refused: exceeded the byte limit" if "exceeded" in r else r[:40] for r in reasons.values()
        )
        return [(f"{answer} ({n}/{len(urls)})", waited) for answer, n in counts.items()] or [
            ("nothing recorded", waited)
        ]

    return run


def symbol_set_upload(ctx: Ctx) -> list[Answer]:
    bomb = hostile_fetch.symbol_set_bomb()
    api = f"{ctx.server.url}/api/environments/{ctx.project_id}/error_tracking/symbol_sets/"

    def one(i: int) -> Answer:
        started = time.monotonic()
        response = httpx.post(
            f"{api}?chunk_id=bomb-{uuid.uuid4().hex}",
            content=bomb,
            headers={"Authorization": f"Bearer {ctx.api_key}"},
            timeout=120,
        )
        return answer_of(response), time.monotonic() - started

    return concurrently(ctx, one)


def idle(ctx: Ctx) -> list[Answer]:
    time.sleep(3)
    return [("-", 3.0)]


def build_cases(token: str) -> list[Case]:
    plain = {"Content-Type": "application/json"}
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    text = {"Content-Type": "text/plain"}
    trailing = gzip_trailing_byte(token)
    # Body headers only: the body trickles in one byte every 0.3 s.
    body_opening = (
        b"POST /batch/ HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    return [
        Case("idle (3 s, nothing sent)", idle, "the box's own noise"),
        Case("normal batch (100 events, 290 KB)", posting(normal_batch(token), headers=plain), "baseline"),
        Case(f"gzip + trailing byte ({len(trailing)} B)", posting(trailing, headers=gz)),
        Case("gzip-js + trailing byte, text/plain", posting(trailing, path="/i/v0/e/", headers=text)),
        Case("1,000 gzip members", posting(many_gzip_members(), headers=gz)),
        Case("deflate bomb (1 GiB)", posting(deflate_bomb(), headers={"Content-Encoding": "deflate"})),
        Case(
            "zstd bomb (1 GiB)",
            posting(hostile_fetch.zeros_compressed("zstd", 1024 * MIB), headers={"Content-Encoding": "zstd"}),
        ),
        Case(
            "br bomb (1 GiB)",
            posting(hostile_fetch.zeros_compressed("br", 1024 * MIB), headers={"Content-Encoding": "br"}),
        ),
        Case("amplification (gzip of 33 M {})", posting(amplification_body(token), headers=gz)),
        Case('value bomb "a", (20 MiB)', posting(value_bomb(token, b'"a",'), headers=gz)),
        Case("value bomb 0, (20 MiB)", posting(value_bomb(token, b"0,"), headers=gz)),
        Case("990 k values (parsed, then refused)", posting(values_at_the_limit(token), headers=gz)),
        Case("nesting 100,000 deep", posting(deep_nesting(token), headers=plain)),
        Case("lone surrogates (100 events)", posting(lone_surrogates(token), headers=plain)),
        Case("body over the cap (21 MiB)", over_body_cap(chunked=False)),
        Case("body over the cap, chunked", over_body_cap(chunked=True)),
        Case("100 MiB header", huge_header),
        Case(
            "slow-loris headers (300 connections)",
            slow_connections(300, b"POST /batch/ HTTP/1.1\r\nHost: bench\r\n", b"X-A: b\r\n", 20),
        ),
        Case("trickled bodies (300 connections)", slow_connections(300, body_opening, b"{" * 10, 45)),
        Case("script host: br bomb (256 MiB)", script_fetch("br-bomb")),
        Case("script host: trickle (1 B / 20 ms)", script_fetch("trickle")),
        Case("symbol set: zstd inflating to 450 MiB", symbol_set_upload),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Running


def run_case(ctx: Ctx, case: Case, prober: Prober) -> Result:
    pid = ctx.server.process.pid  # type: ignore[union-attr]
    result = Result(case)
    reset_peak(pid)
    started = time.monotonic()
    for answer, seconds in case.run(ctx):
        result.answers[answer] += 1
        result.latencies.append(seconds)
    ended = time.monotonic()
    result.seconds = ended - started
    result.peak_mib = ctx.server.memory_mib()["VmHWM"]
    probes = prober.between(started, ended)
    time.sleep(AFTER_CASE_S)
    result.rss_after_mib = ctx.server.memory_mib()["VmRSS"]
    result.health_max = max((s[1] for s in probes), default=0.0)
    result.health_over = sum(1 for s in probes if s[1] > TARGET_HEALTH_S)
    result.health_count = len(probes)
    result.health_failed = sum(1 for s in probes if s[2] != 200)
    return result


def queue_full(tmp: Path, concurrency: int) -> str:
    """A `--no-worker` server whose queue holds 1,000 events: batches of 100 until the answers turn to 503."""
    server = LiveServer(
        tmp / "queue-full", env_overrides={"FAULTLINE_QUEUE_MAX_EVENTS": "1000"}, extra_args=["--no-worker"]
    )
    server.start()
    try:
        token = server.credentials()["project_token"]
        make = normal_batch(token)
        answers: collections.Counter[str] = collections.Counter()
        latencies = []

        def one(i: int) -> None:
            started = time.monotonic()
            response = httpx.post(server.url + "/batch/", content=make(i), timeout=60)
            latencies.append(time.monotonic() - started)
            answers[
                answer_of(response)
                + (f" Retry-After: {response.headers['retry-after']}" if "retry-after" in response.headers else "")
            ] += 1

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(2 * concurrency)))
        return ", ".join(f"{n}× {a}" for a, n in answers.most_common()) + f"; slowest {max(latencies) * 1000:.0f} ms"
    finally:
        server.stop()


def fmt_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="requests per client in each case")
    parser.add_argument("--cases", default="", help="comma-separated substrings of case names to run (default all)")
    parser.add_argument(
        "--server-env", action="append", default=[], help="KEY=VALUE for the server's environment (experiments)"
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--probe-out", help=argparse.SUPPRESS)
    parser.add_argument("--probe-interval", type=float, default=0.05, help=argparse.SUPPRESS)
    parser.add_argument("--renice", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--inspect", help=argparse.SUPPRESS)  # a script run with the server's pid before it stops
    parser.add_argument("--no-queue-full", action="store_true", help="skip the second, --no-worker server")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, Path(args.probe_out), args.probe_interval)
        return

    script_host = ThreadingHTTPServer(("127.0.0.1", 0), hostile_fetch.Handler)
    script_host.daemon_threads = True
    threading.Thread(target=script_host.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS": "true"}
        overrides.update(item.split("=", 1) for item in args.server_env)
        server = LiveServer(Path(tmp) / "data", env_overrides=overrides)
        server.start()
        prober = Prober(server.url, Path(tmp) / "probes.txt")
        try:
            creds = server.credentials()
            pid = server.process.pid  # type: ignore[union-attr]
            ctx = Ctx(
                server=server,
                token=creds["project_token"],
                api_key=creds["api_key"],
                project_id=int(creds["project_id"]),
                script_host=f"http://127.0.0.1:{script_host.server_address[1]}",
                concurrency=args.concurrency,
                repeat=args.repeat,
            )
            print("building bodies…", flush=True)
            cases = build_cases(ctx.token)
            wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
            cases = [c for c in cases if not wanted or any(w in c.name for w in wanted)]
            if args.renice:  # experiment: does the box's own load explain the slow answers?
                for task in Path(f"/proc/{pid}/task").iterdir():
                    os.setpriority(os.PRIO_PROCESS, int(task.name), args.renice)
            time.sleep(1)
            start_rss = server.memory_mib()["VmRSS"]
            print(f"server pid {pid}, RSS after start {start_rss} MiB; concurrency {args.concurrency}", flush=True)
            header = (
                f"{'case':40s} {'answers':44s} {'median':>8s} {'slowest':>8s} {'peak RSS':>9s} {'/_health max':>12s}"
            )
            print(header)
            print("-" * len(header), flush=True)
            results = []
            for case in cases:
                result = run_case(ctx, case, prober)
                results.append(result)
                answers = ", ".join(f"{n}× {a}" for a, n in result.answers.most_common())
                health = (
                    fmt_seconds(result.health_max)
                    + f" ({result.health_over}/{result.health_count} >100ms)"
                    + (f" ({result.health_failed} failed)" if result.health_failed else "")
                )
                print(
                    f"{case.name:40s} {answers:44s} {fmt_seconds(statistics.median(result.latencies)):>8s} "
                    f"{fmt_seconds(max(result.latencies)):>8s} {result.peak_mib:>5d} MiB "
                    f"{result.rss_after_mib:>5d} MiB {health:>12s}",
                    flush=True,
                )
            time.sleep(SETTLE_S)
            prober.stop()
            idle = server.memory_mib()["VmRSS"]
            if args.inspect:
                subprocess.run([sys.executable, args.inspect, str(pid)], check=False)
            samples = prober.samples
            health_all = max((s[1] for s in samples), default=0.0)
            health_failed = sum(1 for s in samples if s[2] != 200)
            health_slow = sum(1 for s in samples if s[1] > TARGET_HEALTH_S)
        finally:
            prober.stop()
            server.stop()
        if not args.no_queue_full:
            outcome = queue_full(Path(tmp), args.concurrency)
            print(f"\nqueue full (--no-worker, FAULTLINE_QUEUE_MAX_EVENTS=1000, 100-event batches): {outcome}")
    script_host.shutdown()

    peak = max(results, key=lambda r: r.peak_mib)
    print(
        f"\n/_health: {len(samples)} probes, {health_slow} slower than {TARGET_HEALTH_S * 1000:.0f} ms, slowest "
        f"{fmt_seconds(health_all)}, {health_failed} not 200"
    )
    print(f"idle RSS {SETTLE_S:g} s after the run: {idle} MiB (after start: {start_rss} MiB)")
    targets = [
        (
            f"no case raises RSS above {TARGET_PEAK_MIB} MiB (highest: {peak.peak_mib} MiB, {peak.case.name})",
            peak.peak_mib <= TARGET_PEAK_MIB,
        ),
        (
            f"/_health answers within {TARGET_HEALTH_S * 1000:.0f} ms throughout (slowest {fmt_seconds(health_all)})",
            health_all <= TARGET_HEALTH_S and not health_failed,
        ),
        (f"idle RSS after the run under {TARGET_IDLE_MIB} MiB ({idle} MiB)", idle < TARGET_IDLE_MIB),
    ]
    for text, ok in targets:
        print(f"{'PASS' if ok else 'MISS'}  {text}")


if __name__ == "__main__":
    main()
