"""Retention: eviction throughput, and what running it beside the digest costs ingestion (same run, same data).

1. Ingest `--batches` batches of `--batch` events through the real digest pipeline (`Pipeline.process`, one
   transaction per batch) with retention off: the baseline ingest rate.
2. Ingest the same amount again while the retention service runs every `--interval` seconds in its thread with a
   byte budget of half of what phase 1 stored, so it evicts all the time: the ingest rate with retention, and the
   ratio of the two.
3. Set the budget to a tenth of what is stored and time one budget pass: events and bytes evicted per second.

    .venv/bin/python bench/retention.py                         # SQLite in a temp dir
    .venv/bin/python bench/retention.py --batches 10 --batch 200  # quick
    .venv/bin/python bench/retention.py --database-url postgresql+psycopg://postgres@127.0.0.1/fl_bench  # empty db

Events are 40 issues' worth of posthog-python-shaped exceptions (~1.4 KB stored each). Numbers on a shared 2-core
machine are noisy; compare the ratio, which both phases share.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from faultline import migrate
from faultline.accounts import service as accounts
from faultline.db import Database
from faultline.ingest.posthog_body import queue_payload
from faultline.issues.models import Event
from faultline.pipeline.digest import Incoming, Pipeline
from faultline.retention import usage
from faultline.retention.job import RetentionThread
from faultline.retention.service import Policy, Retention


def event(n: int, at: dt.datetime) -> bytes:
    issue = n % 40
    doc: dict[str, Any] = {
        "event": "$exception",
        "uuid": str(uuid.uuid4()),
        "distinct_id": f"user-{n % 997}",
        "timestamp": (at + dt.timedelta(milliseconds=n)).isoformat(),
        "properties": {
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
            "$exception_list": [
                {
                    "type": f"Bench{issue}Error",
                    "value": f"failure number {issue}",
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": f"app/module_{issue}_{k}.py",
                                "abs_path": f"/srv/app/module_{issue}_{k}.py",
                                "function": f"handler_{k}",
                                "lineno": 10 + k,
                                "in_app": True,
                            }
                            for k in range(4)
                        ],
                    },
                }
            ],
            "$current_url": f"https://shop.example.com/checkout/{n}",
        },
    }
    return queue_payload(doc, sent_at=None, received_at=at)


def ingest(pipeline: Pipeline, project_id: int, batches: int, size: int, start: int, at: dt.datetime) -> float:
    """Events per second through the digest."""
    payloads = [[Incoming(project_id, event(start + b * size + i, at)) for i in range(size)] for b in range(batches)]
    began = time.perf_counter()
    for batch in payloads:
        pipeline.process(batch)
    return batches * size / (time.perf_counter() - began)


def stored(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return usage.total_bytes(session), session.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between retention passes (phase 2)")
    parser.add_argument("--retention-batch", type=int, default=500, help="events per retention transaction")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(db.engine)
        with db.write() as session:
            org = accounts.create_organization(session, "Bench")
            project_id = accounts.create_project(session, org, "web").id
        pipeline = Pipeline(db)
        at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        n = args.batches * args.batch

        base_rate = ingest(pipeline, project_id, args.batches, args.batch, 0, at)
        bytes_1, events_1 = stored(db)
        print(
            f"phase 1  no retention: {n} events {base_rate:8.0f} events/s   stored {bytes_1} bytes in {events_1} events"
        )

        budget = bytes_1 // 2
        retention = Retention(db, Policy(retention_days=0, storage_budget=budget, batch=args.retention_batch))
        thread = RetentionThread(retention, interval=args.interval)
        thread.start()
        try:
            with_rate = ingest(pipeline, project_id, args.batches, args.batch, n, at)
        finally:
            thread.stop()
        bytes_2, events_2 = stored(db)
        print(
            f"phase 2  retention every {args.interval:g} s, budget {budget} bytes: {with_rate:8.0f} events/s   "
            f"({thread.passes} passes; stored {bytes_2} bytes in {events_2} events)"
        )
        print(f"ingest rate with retention / without: {with_rate / base_rate:.2f}")

        small = bytes_2 // 10
        retention = Retention(db, Policy(retention_days=0, storage_budget=small, batch=args.retention_batch))
        began = time.perf_counter()
        report = retention.run_pass()
        took = time.perf_counter() - began
        bytes_3, events_3 = stored(db)
        print(
            f"phase 3  budget pass down to {small} bytes: {report.evicted} events, {report.evicted_bytes} bytes in "
            f"{took:.2f} s = {report.evicted / took:8.0f} events/s, {report.evicted_bytes / took / 1e6:.1f} MB/s "
            f"(left {bytes_3} bytes in {events_3} events{'; protected events exceed it' if report.over_budget else ''})"
        )
        print(
            orjson.dumps(
                {
                    "ingest_without": round(base_rate),
                    "ingest_with": round(with_rate),
                    "ratio": round(with_rate / base_rate, 3),
                    "evicted_per_s": round(report.evicted / took),
                }
            ).decode()
        )
        db.dispose()


if __name__ == "__main__":
    main()
