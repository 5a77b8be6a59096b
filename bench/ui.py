"""Issue-list *page* server time with 10 000 issues (target: < 200 ms), on SQLite.

Generates the data with `bench/api.py`'s generator (issues, fingerprints, events and every aggregate the digest
worker maintains), logs in through the real login form, then times `GET /project/<id>/issues` in-process — the
whole server side: session lookup, tenancy check, filters, list query, sparkline volumes, assignees, template
rendering. As a baseline measured in the same process, it times the REST endpoint returning the same page as JSON,
so the ratio shows what the HTML costs on top of the data.

    .venv/bin/python bench/ui.py                       # 10 000 issues / 100 000 events in a temp dir
    .venv/bin/python bench/ui.py --issues 10000 --events 200000 --requests 100 --data-dir /tmp/fl-ui

Not part of `make test`; numbers on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`", category=UserWarning)

from fastapi.testclient import TestClient  # noqa: E402

from faultline.accounts import service as accounts  # noqa: E402
from faultline.accounts.models import MembershipLevel, Project, User  # noqa: E402
from faultline.app import create_app  # noqa: E402
from faultline.config import load_settings  # noqa: E402
from faultline.db import Database  # noqa: E402
from faultline.issues.models import Event, Issue  # noqa: E402


def _load_api_bench() -> ModuleType:
    """bench/api.py's data generator (the same issues/events/aggregates the REST benchmark uses)."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("api.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_api = _load_api_bench()
PASSWORD = "bench password 1"
TARGET_MS = 200.0
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def log_in(client: TestClient, email: str) -> None:
    page = client.get("/login")
    token = LOGIN_TOKEN.search(page.text)
    assert token, page.text[:300]
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "login_token": token.group(1), "next": "/projects/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]


def time_requests(client: TestClient, url: str, params: dict[str, str], count: int, **kwargs: object) -> list[float]:
    for _ in range(3):  # warm-up: template compilation, statement caches
        client.get(url, params=params, **kwargs)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url, params=params, **kwargs)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:500]
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per scenario")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep/reuse the generated database here")
    args = parser.parse_args()

    keep = args.data_dir is not None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="faultline-bench-ui-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / f"{bench_api.MARKER}-{args.issues}-{args.events}"
    app = create_app(load_settings({"FAULTLINE_DATA_DIR": str(data_dir)}))
    try:
        with TestClient(app) as client:
            db: Database = app.state.db
            with db.write() as session:
                user = session.execute(sa.select(User).where(User.email == "bench@acme.test")).scalar_one_or_none()
                if user is None:
                    org = accounts.create_organization(session, "Bench")
                    accounts.create_project(session, org, "bench web")
                    user = accounts.create_user(
                        session, "bench@acme.test", organization=org, level=MembershipLevel.ADMIN
                    )
                accounts.set_password(session, user, PASSWORD)
                project = session.execute(sa.select(Project).order_by(Project.id).limit(1)).scalar_one()
                _key, api_key = accounts.create_api_key(session, user, label="bench", scopes=["*"])
                project_id, user_id = project.id, user.id
            if not marker.exists():
                print(f"generating {args.issues} issues / {args.events} events into {data_dir} …", file=sys.stderr)
                bench_api.generate(db, project_id, user_id, args.issues, args.events)
                marker.touch()
            with db.read() as session:
                issue_count = session.execute(sa.select(sa.func.count()).select_from(Issue)).scalar_one()
                event_count = session.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()
            log_in(client, "bench@acme.test")

            page_url = f"/project/{project_id}/issues"
            api_url = f"/api/environments/{project_id}/error_tracking/issues/"
            api_headers = {"Authorization": f"Bearer {api_key}"}
            scenarios: dict[str, tuple[dict[str, str], dict[str, str]]] = {
                # name: (page query, equivalent REST query)
                "default: active, last seen, 50/page": ({}, {"status": "active", "limit": "50"}),
                "all statuses": ({"status": "all"}, {"limit": "50"}),
                "order by users": ({"order": "users"}, {"status": "active", "order_by": "users", "limit": "50"}),
                "search 'timeout'": ({"q": "timeout"}, {"status": "active", "search": "timeout", "limit": "50"}),
                "assigned to me": ({"assignee": "me"}, {"status": "active", "assignee": "me", "limit": "50"}),
                "page 20 (offset 950)": ({"offset": "950"}, {"status": "active", "offset": "950", "limit": "50"}),
                "property search $lib:posthog-python": (
                    {"q": "$lib:posthog-python"},
                    {"status": "active", "search": "$lib:posthog-python", "limit": "50"},
                ),
            }
            print(
                f"issue list page, SQLite, {issue_count} issues / {event_count} events, {args.requests} requests each"
            )
            print(f"{'scenario':40} {'page p50':>9} {'page p95':>9} {'api p50':>8} {'page/api':>9}")
            results: dict[str, float] = {}
            for name, (page_params, api_params) in scenarios.items():
                page = time_requests(client, page_url, page_params, args.requests)
                rest = time_requests(client, api_url, api_params, args.requests, headers=api_headers)
                p50, p95, api50 = statistics.median(page), bench_api.percentile(page, 95), statistics.median(rest)
                results[name] = p95
                print(f"{name:40} {p50:9.1f} {p95:9.1f} {api50:8.1f} {p50 / api50:8.1f}x")
            default = results["default: active, last seen, 50/page"]
            print(
                f"target: default list page < {TARGET_MS:.0f} ms server time — p95 {default:.1f} ms: "
                + ("met" if default < TARGET_MS else "NOT met")
            )
            missed = [name for name, p95 in results.items() if p95 >= TARGET_MS]
            print(
                f"scenarios under {TARGET_MS:.0f} ms (p95): {len(results) - len(missed)}/{len(results)}"
                + (f"; over: {', '.join(missed)}" if missed else "")
            )
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
