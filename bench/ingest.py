"""Ingestion throughput: capture acknowledgements over real HTTP, and end-to-end digest on SQLite.

    .venv/bin/python bench/ingest.py [--events 30000] [--digest-events 20000] [--clients 8]

1. ack: a real `faultline serve --no-worker` process; client threads POST `/batch/` bodies of 100 posthog-python
   `$exception` events (~3 KB each, built from the recorded sample, fresh uuids). Baseline in the same run: the
   same bodies with an unknown token (read + decode + parse + 401, no enqueue), so the ratio is the queue's cost.
   Repeated with the embedded worker digesting at the same time (`faultline serve`), the default topology.
2. digest: the SQLite queue filled with posthog-python events (50 fingerprints, 200 users), then the worker drains
   it into a fresh SQLite database. Baseline: the pipeline's pure-Python stages (parse, frames, fingerprint) alone.

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
sys.path.insert(0, str(ROOT / "src"))

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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/_health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
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


def bench_digest(n_events: int) -> None:
    from faultline import migrate
    from faultline.accounts import service as accounts
    from faultline.db import Database
    from faultline.ingest.envelope import queue_payload
    from faultline.ingest.queue.sqlite import SQLiteQueue
    from faultline.pipeline import fingerprint as fp
    from faultline.pipeline.digest import Pipeline
    from faultline.pipeline.frames import platform_of
    from faultline.pipeline.parse import parse_payload
    from faultline.pipeline.worker import Worker

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/faultline.db")
        migrate.upgrade(db.engine)
        with db.write() as session:
            org = accounts.create_organization(session, "Bench")
            project_id = accounts.create_project(session, org, "bench").id
        now = dt.datetime.now(dt.UTC)
        payloads = [queue_payload(e, sent_at=None, received_at=now) for e in make_events(n_events)]

        start = time.perf_counter()
        for payload in payloads:
            event = parse_payload(project_id, payload)
            for exc in event.exceptions:
                for frame in exc.get("stacktrace", {}).get("frames", []):
                    platform = platform_of(frame)
                    platform.resolve(frame, platform.raw_id(frame))
            fp.v1(event.exceptions)
        cpu_rate = n_events / (time.perf_counter() - start)

        queue = SQLiteQueue(Path(tmp) / "queue.db")
        for i in range(0, n_events, 1000):
            queue.put([(project_id, p) for p in payloads[i : i + 1000]])
        worker = Worker(db, queue, Pipeline(db), batch_size=500)
        start = time.perf_counter()
        done = worker.run_until_empty(timeout=600)
        secs = time.perf_counter() - start
        queue.close()
        rate = done / secs
        print(
            f"digest [SQLite, batches of 500]: {done} events in {secs:.1f}s: {rate:,.0f} events/s   "
            f"target >= 2,000 events/s"
        )
        print(
            f"    baseline (parse + frames + fingerprint only, no database): {cpu_rate:,.0f} events/s; "
            f"digest/baseline = {rate / cpu_rate:.2f}"
        )
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--digest-events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    bench_ack(args.events, args.clients, worker=False)
    bench_ack(args.events, args.clients, worker=True)
    bench_digest(args.digest_events)


if __name__ == "__main__":
    main()
