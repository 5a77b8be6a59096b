"""CPU cost of one capture request through the whole ASGI app, in process (issue 18's profile: FastAPI's route
matching walked ~500 routes before reaching the capture endpoints and took two thirds of the HTTP thread).

    .venv/bin/python bench/routing.py [--requests 2000]

Calls the app directly (no socket) with POST `/api/1/envelope/`, `/batch/` and `/e/` bodies that fail
authentication (unknown key: the cheapest answer, so routing's share shows) and with `GET /_health`; prints CPU
microseconds per request. Deterministic enough to compare two versions of the code on a loaded machine.

Then the accepted Sentry path end to end (issue 18): sentry-python envelopes of 5 KB and 50 KB (`bench/load.py`'s
padded recorded sample, fresh event ids, ~1 % new fingerprints) with a valid DSN key, through auth, parse and the
durable enqueue (process CPU: the queue writer thread's share included); then the digest of what they queued,
in batches of `--digest-batch` (the live digest takes small batches when events arrive one per request), CPU per
event. `--profile FILE` writes a cProfile of the accepted envelopes and of their digest (FILE.capture, FILE.digest).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faultline.app import create_app  # noqa: E402
from faultline.config import load_settings  # noqa: E402
from faultline.runtime import Runtime  # noqa: E402


async def call(app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(app: Any, requests: int) -> None:
    """The unknown-key cases: routing and the refusal, nothing queued."""
    cases = {
        "POST /api/1/envelope/ (unknown key)": (
            "POST",
            "/api/1/envelope/",
            b'{"event_id":"0123456789abcdef0123456789abcdef"}\n{"type":"event"}\n{}\n',
            [(b"x-sentry-auth", b"Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7")],
        ),
        "POST /batch/ (unknown token)": ("POST", "/batch/", b'{"api_key":"phc_unknown","batch":[]}', []),
        "POST /e/ (unknown token)": ("POST", "/e/", b'{"api_key":"phc_unknown","event":"$exception"}', []),
        "GET /_health": ("GET", "/_health", b"", []),
    }
    for name, (method, path, body, headers) in cases.items():
        for _ in range(20):  # warm: FastAPI builds its route contexts on first use
            status = await call(app, method, path, body, [(b"content-type", b"application/json"), *headers])
        start = time.process_time()
        for _ in range(requests):
            await call(app, method, path, body, [(b"content-type", b"application/json"), *headers])
        per = (time.process_time() - start) / requests
        print(f"{name}: {per * 1e6:,.0f} µs CPU per request (status {status})")


def _project(runtime: Runtime) -> tuple[int, str]:
    """A project of its own and its DSN public key."""
    from faultline.accounts import dsn as dsn_keys
    from faultline.accounts import service as accounts

    with runtime.db.write() as session:
        org = accounts.create_organization(session, "Bench")
        project_id = accounts.create_project(session, org, "bench").id
    with runtime.db.read() as session:
        key = session.execute(dsn_keys.list_stmt(project_id)).scalars().first()
        assert key is not None
        return project_id, key.public_key


async def measure_sentry(app: Any, project_id: int, key: str, size: int, requests: int, profiler: Any) -> None:
    """Accepted envelopes, `requests` of them, 16 at a time (so the queue writer groups them as it does live)."""
    from bench.load import SentryStream

    stream = SentryStream(project_id, key, size=size)
    headers = [(name.lower().encode(), value.encode()) for name, value in stream.headers().items()]
    bodies = [stream.body(i) for i in range(requests + 20)]
    for body in bodies[:20]:
        status = await call(app, "POST", stream.path, body, headers)
    start = time.process_time()
    if profiler is not None:
        profiler.enable()
    for first in range(20, len(bodies), 16):
        group = bodies[first : first + 16]
        statuses = await asyncio.gather(*(call(app, "POST", stream.path, body, headers) for body in group))
        status = max(statuses)
    if profiler is not None:
        profiler.disable()
    per = (time.process_time() - start) / requests
    label = f"POST {stream.path} sentry {size // 1000} KB (accepted)"
    print(f"{label}: {per * 1e6:,.0f} µs CPU per request (status {status})")


def measure_digest(runtime: Runtime, size: int, batch: int, profiler: Any) -> None:
    worker = runtime.new_worker()
    worker.batch_size = batch
    pending = worker.queue.pending()
    start = time.process_time()
    if profiler is not None:
        profiler.enable()
    done = worker.run_until_empty(timeout=600)
    if profiler is not None:
        profiler.disable()
    per = (time.process_time() - start) / max(done, 1)
    print(
        f"digest of sentry {size // 1000} KB events, batches of {batch}: {per * 1e6:,.0f} µs CPU per event "
        f"({done} of {pending} queued)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sentry-requests", type=int, default=1000, help="accepted envelopes per size")
    parser.add_argument("--digest-batch", type=int, default=16, help="digest batch size for the queued envelopes")
    parser.add_argument("--only-sentry", action="store_true", help="skip the unknown-key cases")
    parser.add_argument("--sizes", default="5000,50000", help="Sentry event sizes in bytes, comma-separated")
    parser.add_argument("--profile", help="cProfile the accepted envelopes and their digest into FILE.capture/.digest")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import cProfile

    capture_prof = cProfile.Profile() if args.profile else None
    digest_prof = cProfile.Profile() if args.profile else None
    for size in (int(text) for text in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings({"FAULTLINE_DATA_DIR": tmp, "FAULTLINE_LOG_LEVEL": "warning"})
            runtime = Runtime.for_server(settings)
            app = create_app(runtime=runtime)
            from faultline import migrate

            migrate.upgrade(runtime.db.engine)
            try:
                if not args.only_sentry:
                    args.only_sentry = True  # once
                    asyncio.run(measure(app, args.requests))
                project_id, key = _project(runtime)
                asyncio.run(measure_sentry(app, project_id, key, size, args.sentry_requests, capture_prof))
                measure_digest(runtime, size, args.digest_batch, digest_prof)
            finally:
                runtime.close()
    if capture_prof is not None and digest_prof is not None:
        capture_prof.dump_stats(f"{args.profile}.capture")
        digest_prof.dump_stats(f"{args.profile}.digest")
        print(f"profiles: {args.profile}.capture, {args.profile}.digest")


if __name__ == "__main__":
    main()
