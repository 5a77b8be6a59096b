"""Ingestion throughput: capture acknowledgements over real HTTP, and end-to-end digest on SQLite.

    .venv/bin/python bench/ingest.py [--events 30000] [--digest-events 20000] [--clients 8]
    .venv/bin/python bench/ingest.py --digest-only --baseline-rev main [--rounds 3]

1. ack: a real `faultline serve --no-worker` process; client threads POST `/batch/` bodies of 100 posthog-python
   `$exception` events (~3 KB each, built from the recorded sample, fresh uuids). Baseline in the same run: the
   same bodies with an unknown token (read + decode + parse + 401, no enqueue), so the ratio is the queue's cost.
   Repeated with the embedded worker digesting at the same time (`faultline serve`), the default topology.
2. digest: the SQLite queue filled with posthog-python events (50 fingerprints, 200 users), then the worker drains
   it into a fresh SQLite database. Baseline: the pipeline's pure-Python stages (parse, frames, fingerprint) alone.
3. decode: in-process CPU cost of what capture does to a body before the token lookup (decode, JSON value count,
   parse) for the recorded samples and a 100-event batch, plain and gzip; the share taken by the value count; and
   what a refused value bomb costs. Deterministic enough to compare two versions of the code on a loaded machine.
4. `--baseline-rev REV`: the digest measurement of 2., run for the tree of REV (`git archive` into a temp dir, put
   first on the import path) and for this tree, alternately for `--rounds` rounds in fresh processes, so both
   meet the same machine load; prints each rate, the medians and their ratio (this tree / REV). A refactor of the
   pipeline must keep the ratio at 1.0 or above (within the noise the rounds show).

Targets on the 2-core reference box: ack >= 3000 events/s, digest >= 2000 events/s.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
# FAULTLINE_BENCH_SRC: measure another tree's code with this script (`--baseline-rev`).
SRC = Path(os.environ.get("FAULTLINE_BENCH_SRC") or ROOT / "src")
sys.path.insert(0, str(SRC))

# shared/ sits beside the repository (CI clone and worktrees alike); fall back to the workplace copy.
SAMPLE = ROOT.parent / "shared" / "samples" / "posthog_python_exception.json"
if not SAMPLE.exists():
    SAMPLE = Path("/work/shared/samples/posthog_python_exception.json")


def sample_event() -> dict:
    return orjson.loads(SAMPLE.read_bytes())["batch"][0]


def make_events(n: int, *, fingerprints: int = 50, users: int = 200) -> list[dict]:
    base = sample_event()
    events = []
    for i in range(n):
        event = copy.deepcopy(base)
        event["uuid"] = str(uuid.uuid4())
        event["distinct_id"] = f"user-{i % users}"
        event["properties"]["$exception_list"][0]["type"] = f"RuntimeError{i % fingerprints}"
        events.append(event)
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60) -> bool:
    """Poll `/_health` until it answers 200 (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/_health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class Server:
    def __init__(self, data_dir: Path, *, worker: bool) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
        env.update(
            {"FAULTLINE_DATA_DIR": str(data_dir), "FAULTLINE_PORT": str(self.port), "FAULTLINE_LOG_LEVEL": "warning"}
        )
        args = [sys.executable, "-m", "faultline", "serve"] + ([] if worker else ["--no-worker"])
        self.log = (data_dir.parent / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            args, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if not wait_healthy(self.url):
            raise RuntimeError("server did not start")
        text = (data_dir.parent / f"server-{self.port}.log").read_text()
        self.token = text.split("project token:")[1].split()[0]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def post_all(url: str, bodies: list[bytes], clients: int) -> tuple[float, int]:
    """Seconds to POST every body with `clients` keep-alive connections; how many were not 2xx/401."""
    index = iter(range(len(bodies)))
    lock = threading.Lock()
    failures = [0]

    def run() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    i = next(index, None)
                if i is None:
                    return
                status = client.post(url, content=bodies[i], headers={"Content-Type": "application/json"}).status_code
                if status not in (200, 401):
                    with lock:
                        failures[0] += 1

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, failures[0]


def bodies_for(events: list[dict], token: str, batch: int = 100) -> list[bytes]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return [
        json.dumps(
            {"batch": events[i : i + batch], "historical_migration": False, "sent_at": now, "api_key": token}
        ).encode()
        for i in range(0, len(events), batch)
    ]


def bench_ack(n_events: int, clients: int, *, worker: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data", worker=worker)
        try:
            events = make_events(n_events)
            size = len(orjson.dumps(events[0]))
            bodies = bodies_for(events, server.token)
            warm = bodies_for(make_events(500), server.token)
            post_all(server.url + "/batch/", warm, clients)
            baseline_bodies = bodies_for(events, "phc_unknown_token_for_baseline")
            base_s, _ = post_all(server.url + "/batch/", baseline_bodies, clients)
            secs, failures = post_all(server.url + "/batch/", bodies, clients)
            rate, base_rate = n_events / secs, n_events / base_s
            label = "serve (embedded worker digesting)" if worker else "serve --no-worker"
            print(
                f"ack [{label}]: {n_events} events ({size} B each) in {len(bodies)} requests x 100, "
                f"{clients} clients: {rate:,.0f} events/s ({len(bodies) / secs:,.0f} req/s), failures {failures}"
            )
            print(
                f"    baseline (same bodies, unknown token: decode+parse+401, no enqueue): {base_rate:,.0f} events/s;"
                f" ack/baseline = {rate / base_rate:.2f}   target >= 3,000 events/s"
            )
        finally:
            server.stop()


def _cpu_stages(project_id: int, payloads: list[bytes]) -> float:
    """Events/s through parse + frame resolution + V1 fingerprint alone (no database)."""
    from faultline.pipeline import fingerprint as fp
    from faultline.pipeline.parse import parse_payload
    from faultline.pipeline.resolution import FrameResolver, resolve_exceptions

    try:
        from faultline.protocol import NoSymbols
    except ImportError:  # a tree from before issue 13
        from faultline.pipeline.seams import NoSymbols  # type: ignore[no-redef]

    start = time.perf_counter()
    for payload in payloads:
        event = parse_payload(project_id, payload)
        # A fresh resolver per event: no memo across events, the cost of one event's frames.
        fp.v1(resolve_exceptions(FrameResolver(NoSymbols()), project_id, event.exceptions))
    return len(payloads) / (time.perf_counter() - start)


def bench_digest(n_events: int, *, quiet: bool = False) -> tuple[float, float]:
    from faultline import migrate
    from faultline.accounts import service as accounts
    from faultline.db import Database
    from faultline.ingest.queue.sqlite import SQLiteQueue

    try:
        from faultline.ingest.posthog_body import queue_payload
    except ImportError:  # a tree from before issue 13 named PostHog's batch body `envelope`
        from faultline.ingest.envelope import queue_payload  # type: ignore[no-redef]
    from faultline.pipeline.digest import Pipeline
    from faultline.pipeline.worker import Worker

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/faultline.db")
        migrate.upgrade(db.engine)
        with db.write() as session:
            org = accounts.create_organization(session, "Bench")
            project_id = accounts.create_project(session, org, "bench").id
        now = dt.datetime.now(dt.UTC)
        payloads = [queue_payload(e, sent_at=None, received_at=now) for e in make_events(n_events)]
        cpu_rate = _cpu_stages(project_id, payloads) if not quiet else 0.0

        queue = SQLiteQueue(Path(tmp) / "queue.db")
        for i in range(0, n_events, 1000):
            queue.put([(project_id, p) for p in payloads[i : i + 1000]])
        worker = Worker(db, queue, Pipeline(db), batch_size=500)
        start, cpu_start = time.perf_counter(), time.process_time()
        done = worker.run_until_empty(timeout=600)
        secs, cpu_secs = time.perf_counter() - start, time.process_time() - cpu_start
        queue.close()
        rate = done / secs
        db.dispose()
        if quiet:
            return rate, done / cpu_secs
        print(
            f"digest [SQLite, batches of 500]: {done} events in {secs:.1f}s: {rate:,.0f} events/s   "
            f"target >= 2,000 events/s"
        )
        print(
            f"    baseline (parse + frames + fingerprint only, no database): {cpu_rate:,.0f} events/s; "
            f"digest/baseline = {rate / cpu_rate:.2f}"
        )
        return rate, done / cpu_secs


def _digest_in_process(src: Path, n_events: int) -> tuple[float, float]:
    """One digest measurement in a fresh interpreter whose `faultline` is the tree at `src`: events per second of
    wall time and per second of the process's CPU time (less disturbed by other load on a shared machine)."""
    env = {**os.environ, "FAULTLINE_BENCH_SRC": str(src), "PYTHONPATH": str(src)}
    script = [sys.executable, str(Path(__file__).resolve()), "--digest-rate", "--digest-events", str(n_events)]
    out = subprocess.run(script, env=env, check=True, capture_output=True, text=True).stdout
    wall, cpu = out.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def compare_with(rev: str, n_events: int, rounds: int) -> None:
    """Digest rate of this tree against `rev`'s, measured alternately so both see the same machine load."""
    import statistics
    import tarfile

    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        base_src = Path(tmp) / "src"
        before: list[tuple[float, float]] = []
        after: list[tuple[float, float]] = []
        for round_no in range(1, rounds + 1):
            # Alternate which tree goes first: the machine's load drifts, and the second run of a pair may meet a
            # warmer (or busier) machine.
            order = [(before, base_src), (after, SRC)]
            for rates, src in order if round_no % 2 else reversed(order):
                rates.append(_digest_in_process(src, n_events))
            print(
                f"round {round_no}: {rev}: {before[-1][0]:,.0f} events/s (CPU {before[-1][1]:,.0f})   "
                f"this tree: {after[-1][0]:,.0f} events/s (CPU {after[-1][1]:,.0f})"
            )
    for label, pick in (("wall time", 0), ("CPU time", 1)):
        b = statistics.median(r[pick] for r in before)
        a = statistics.median(r[pick] for r in after)
        print(
            f"digest [SQLite, batches of 500, {n_events} events, median of {rounds}, {label}]: {rev}: {b:,.0f} "
            f"events/s, this tree: {a:,.0f} events/s; ratio this/{rev} = {a / b:.3f}"
        )


def _per_call(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bench_decode() -> None:
    import gzip

    from faultline.config import load_settings
    from faultline.ingest import jsonscan
    from faultline.ingest.decode import decode_body
    from faultline.ingest.posthog_body import parse_body

    settings = load_settings({"FAULTLINE_DATA_DIR": tempfile.gettempdir()}, create_dirs=False)
    batch = bodies_for(make_events(100), "phc_bench")[0]
    samples = SAMPLE.parent
    bodies = {
        "posthog-python sample (1 event)": (SAMPLE.read_bytes(), None, "application/json"),
        "posthog-js gzip-js sample": ((samples / "posthog_js_exception.gzip-js.body").read_bytes(), None, "text/plain"),
        f"batch of 100 ({len(batch) // 1024} KiB)": (batch, None, "application/json"),
        "batch of 100, gzip": (gzip.compress(batch), "gzip", "application/json"),
    }
    for name, (body, encoding, ctype) in bodies.items():

        def run(body=body, encoding=encoding, ctype=ctype) -> None:
            data = decode_body(
                body,
                content_encoding=encoding,
                content_type=ctype,
                compression=None,
                max_decompressed_bytes=settings.max_decompressed_bytes,
            )
            parse_body(data, max_values=settings.max_json_values)

        data = decode_body(
            body, content_encoding=encoding, content_type=ctype, compression=None, max_decompressed_bytes=1 << 30
        )
        repeat = max(20, 2_000_000 // max(1, len(data)))
        total = _per_call(run, repeat)
        count = _per_call(lambda data=data: jsonscan.may_exceed(data, settings.max_json_values), repeat)
        print(f"decode [{name}]: {total * 1e6:,.0f} µs per body, of which value count {count * 1e6:,.1f} µs")
    bomb = gzip.compress(b'{"batch":[' + b"{}," * 6_000_000 + b"{}]}")

    def refuse() -> None:
        try:
            data = decode_body(
                bomb,
                content_encoding=None,
                content_type="text/plain",
                compression=None,
                max_decompressed_bytes=settings.max_decompressed_bytes,
            )
            parse_body(data, max_values=settings.max_json_values)
        except Exception:
            return
        raise AssertionError("the bomb was accepted")

    refused = _per_call(refuse, 3)
    print(f"decode [value bomb, {len(bomb) // 1024} KiB gzip of 18 MB `{{}}`]: refused in {refused * 1e3:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--digest-events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--digest-only", action="store_true", help="skip the HTTP acknowledgement benchmarks")
    parser.add_argument("--baseline-rev", help="also measure the digest of this git revision and print the ratio")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds for --baseline-rev")
    parser.add_argument("--digest-rate", action="store_true", help=argparse.SUPPRESS)  # child of --baseline-rev
    args = parser.parse_args()
    if args.digest_rate:
        print(*bench_digest(args.digest_events, quiet=True))
        return
    if args.baseline_rev:
        compare_with(args.baseline_rev, args.digest_events, args.rounds)
        return
    if args.digest_only:
        bench_digest(args.digest_events)
        return
    bench_decode()
    bench_ack(args.events, args.clients, worker=False)
    bench_ack(args.events, args.clients, worker=True)
    bench_digest(args.digest_events)


if __name__ == "__main__":
    main()
