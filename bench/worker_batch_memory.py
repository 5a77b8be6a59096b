"""What one digest batch costs the worker in memory when events are large (FAULTLINE_WORKER_BATCH_BYTES).

    .venv/bin/python bench/worker_batch_memory.py [--events 400] [--size 900000] [--budgets 1073741824,8388608]

For each byte budget: a `faultline serve --no-worker` of its own takes `--events` sentry-python envelopes of
`--size` bytes into its queue (nothing digests them), then one `faultline worker` process digests the backlog; its
peak RSS (the kernel's VmHWM) and the time to empty the queue are printed. The first budget (1 GiB) is the
behaviour before the budget existed: batches of FAULTLINE_WORKER_BATCH_SIZE (500) events whatever their size.
A backlog of large events is what a burst, a stopped worker or an attacker leaves behind.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.live_server import LiveServer  # noqa: E402

import load  # noqa: E402  (bench/load.py: the recorded-shape Sentry stream)


def peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def run(budget: int, events: int, size: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FAULTLINE_WORKER_BATCH_BYTES": str(budget), "FAULTLINE_MAX_BODY_BYTES": str(2 * size + 65536)}
        server = LiveServer(Path(tmp) / "data", env_overrides=env, extra_args=["--no-worker"])
        server.start(timeout=180)
        try:
            creds = server.credentials()
            key = re.search(r"Sentry DSN:\s+\S+//(\w+)@", server.output())
            assert key, "no Sentry DSN in the banner"
            stream = load.SentryStream(creds["project_id"], key.group(1), size=size)
            with httpx.Client(timeout=30) as client:
                for n in range(events):
                    answer = client.post(server.url + stream.path, content=stream.body(n), headers=stream.headers())
                    assert answer.status_code == 200, answer.text
            queue = sqlite3.connect(Path(tmp) / "data" / "queue.db")
            worker = server.start_worker()
            started = time.monotonic()
            try:
                high = 0.0
                while queue.execute("SELECT count(*) FROM queue_items").fetchone()[0]:
                    high = max(high, peak_mib(worker.pid))
                    time.sleep(0.1)
                elapsed = time.monotonic() - started
                high = max(high, peak_mib(worker.pid))
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.communicate(timeout=60)
                queue.close()
            return high, elapsed, events / elapsed
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--size", type=int, default=900_000, help="Sentry event bytes (the default cap is 1 MiB)")
    parser.add_argument("--budgets", default=f"{1 << 30},{8 << 20}", help="FAULTLINE_WORKER_BATCH_BYTES values")
    args = parser.parse_args()
    print(f"{args.events} queued Sentry events of {args.size / 1000:.0f} kB, one `faultline worker` digesting them")
    print(f"{'batch byte budget':>20} {'worker peak RSS':>16} {'drain time':>11} {'events/s':>9}")
    for budget in (int(b) for b in args.budgets.split(",")):
        high, elapsed, rate = run(budget, args.events, args.size)
        print(f"{budget / (1 << 20):>16.0f} MiB {high:>12.0f} MiB {elapsed:>9.1f} s {rate:>9.0f}")


if __name__ == "__main__":
    main()
