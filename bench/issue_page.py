"""Issue *page* server time with real-sized events: breakdowns, releases, locals, highlighting, exports.

Digests `--events` copies of the recorded posthog-python sample (local variables added, four releases, three
browsers, two environments, 50 users) into one issue through the real digest, optionally next to `--issues` other
issues made by `bench/api.py`'s generator, logs in, then times in-process (session, queries, template):

* the issue page (newest event: trace with context and locals, highlighting, Markdown/traceback text, releases card,
  breakdowns over the 500 most recent events);
* `…/issues/{id}/breakdowns/` and `…/issues/{id}/releases/`, and `…/seen_releases/`;
* the issue list filtered by release and by environment (the `issue_tags` index).

    .venv/bin/python bench/issue_page.py                      # 2 000 events, no other issues
    .venv/bin/python bench/issue_page.py --events 5000 --issues 100000 --other-events 300000 --data-dir /tmp/fl-ip

Not part of `make test`; numbers on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, as bench/hostile.py does
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`", category=UserWarning)

from fastapi.testclient import TestClient  # noqa: E402
from tests.support.ingest import ingest  # noqa: E402  (the digest exactly as the worker runs it)

from faultline.accounts import service as accounts  # noqa: E402
from faultline.accounts.models import MembershipLevel, User  # noqa: E402
from faultline.app import create_app  # noqa: E402
from faultline.config import load_settings  # noqa: E402
from faultline.db import Database  # noqa: E402
from faultline.issues.models import Issue  # noqa: E402

SAMPLE = Path("/work/shared/samples/posthog_python_exception.json")
TARGET_MS = 50.0


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _events(count: int) -> list[dict[str, Any]]:
    [base] = json.loads(SAMPLE.read_text())["batch"]
    now = dt.datetime.now(dt.UTC)
    out = []
    for index in range(count):
        event = copy.deepcopy(base)
        event["uuid"] = str(uuid.uuid4())
        event["distinct_id"] = f"user-{index % 50}"
        event["timestamp"] = (now - dt.timedelta(seconds=count - index)).isoformat()
        props = event["properties"]
        props["$app_version"] = f"3.{index * 4 // count}.0"
        props["$environment"] = "production" if index % 5 else "staging"
        props["$browser"] = ("Chrome", "Firefox", "Safari")[index % 3]
        props["$current_url"] = f"https://shop.example/checkout?cart={index}"
        frame = props["$exception_list"][1]["stacktrace"]["frames"][1]
        frame["code_variables"] = {"raw": repr(f"{index},50"), "scale": "100"}
        out.append(event)
    return out


def time_get(client: TestClient, url: str, count: int, **kwargs: Any) -> list[float]:
    for _ in range(3):
        client.get(url, **kwargs)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url, **kwargs)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000, help="events of the measured issue")
    parser.add_argument("--issues", type=int, default=0, help="other issues (bench/api.py generator)")
    parser.add_argument("--other-events", type=int, default=0, help="events of the other issues")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    bench_api = _load("api")

    keep = args.data_dir is not None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="faultline-bench-issue-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(load_settings({"FAULTLINE_DATA_DIR": str(data_dir)}))
    try:
        with TestClient(app) as client:
            db: Database = app.state.db
            with db.write() as session:
                org = accounts.create_organization(session, "Bench")
                project = accounts.create_project(session, org, "bench web")
                user = accounts.create_user(session, "bench@acme.test", organization=org, level=MembershipLevel.ADMIN)
                _key, api_key = accounts.create_api_key(session, user, label="bench", scopes=["*"])
                project_id, user_id = project.id, user.id
            if args.issues:
                print(f"generating {args.issues} issues / {args.other_events} events …", file=sys.stderr)
                bench_api.generate(db, project_id, user_id, args.issues, max(args.other_events, args.issues))
            print(f"digesting {args.events} sample events …", file=sys.stderr)
            events = _events(args.events)
            for start in range(0, len(events), 500):
                ingest(db, project_id, events[start : start + 500])
            with db.read() as session:
                issue_id = session.execute(sa.select(Issue.id).order_by(Issue.occurrences.desc()).limit(1)).scalar_one()
                issue_count = session.execute(sa.select(sa.func.count()).select_from(Issue)).scalar_one()
            ui = _load("ui")
            with db.write() as session:
                stored = session.get(User, user_id)
                assert stored is not None
                accounts.set_password(session, stored, ui.PASSWORD)
            ui.log_in(client, "bench@acme.test")
            headers = {"Authorization": f"Bearer {api_key}"}
            base = f"/api/environments/{project_id}/error_tracking"
            scenarios = {
                "baseline: API users/@me": ("/api/users/@me/", {"headers": headers}),
                "issue page (newest event)": (f"/project/{project_id}/issues/{issue_id}", {}),
                "API breakdowns": (f"{base}/issues/{issue_id}/breakdowns/", {"headers": headers}),
                "API issue releases": (f"{base}/issues/{issue_id}/releases/", {"headers": headers}),
                "API seen_releases": (f"{base}/seen_releases/", {"headers": headers}),
                "list ?release=3.3.0": (f"/project/{project_id}/issues?release=3.3.0&status=all", {}),
                "list ?environment=staging": (f"/project/{project_id}/issues?environment=staging&status=all", {}),
                "Releases page": (f"/project/{project_id}/releases", {}),
            }
            print(f"SQLite, {issue_count} issues, measured issue: {args.events} events, {args.requests} requests each")
            print(f"{'scenario':32} {'p50 ms':>8} {'p95 ms':>8}")
            for name, (url, kwargs) in scenarios.items():
                samples = time_get(client, url, args.requests, **kwargs)
                print(f"{name:32} {statistics.median(samples):8.1f} {bench_api.percentile(samples, 95):8.1f}")
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
