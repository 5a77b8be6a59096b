"""The real sentry-sdk (PyPI) against the real `faultline serve`: only the DSN changes. Chained exceptions with
local variables and context lines, messages, Sentry's `fingerprint` with `{{ default }}`, grouping and suppression
rules made through the PostHog-style REST API, DSN keys (disable, conflicting credentials), the recorded fixture
with its recorded headers, and client reports in ingestion diagnostics."""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
import sqlalchemy as sa

from faultline.accounts.dsn import DsnKey
from faultline.accounts.models import Project
from faultline.db import Database
from faultline.issues.models import Event, Issue
from faultline.releases.models import Release
from faultline.symbols.models import StackFrame
from tests.support.live_server import LiveServer, wait_until

pytestmark = pytest.mark.slow

SAMPLES = Path("/work/shared/samples")


class PaymentDeclined(Exception):
    pass


class HealthCheckNoise(Exception):
    pass


def parse_amount(raw: str) -> int:
    return int(raw) * 100


def charge(user: str, raw_amount: str) -> int:
    cart_total = len(raw_amount) * 7
    try:
        return parse_amount(raw_amount) + cart_total
    except ValueError as exc:
        raise RuntimeError(f"could not charge {user}") from exc


def caught(fn: Any, *args: Any) -> BaseException:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


def raise_it(exc: Exception) -> None:
    raise exc


@pytest.fixture(scope="module")
def creds(live_server: LiveServer) -> dict[str, str]:
    return live_server.credentials()


@pytest.fixture()
def sdk(creds: dict[str, str]) -> Iterator[list[Any]]:
    """`sentry_sdk.init` with the DSN from the first-start banner; yields the list `before_send` sees."""
    seen: list[Any] = []

    def before_send(event: Any, hint: Any) -> Any:
        seen.append(event)
        return event

    sentry_sdk.init(
        dsn=creds["dsn"],
        include_local_variables=True,
        release="shop@2.0.1",
        environment="staging",
        before_send=before_send,
        default_integrations=False,
    )
    yield seen
    sentry_sdk.flush(10)
    sentry_sdk.init(dsn=None)


def api(server: LiveServer, creds: dict[str, str], path: str) -> str:
    return f"{server.url}/api/environments/{creds['project_id']}/{path}"


def auth(creds: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds['api_key']}"}


def events_count(db: Database) -> int:
    with db.read() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one())


def wait_for_events(db: Database, count: int, timeout: float = 30.0) -> None:
    assert wait_until(lambda: events_count(db) >= count, timeout), f"fewer than {count} events within {timeout}s"


def stored_event(db: Database, sentry_id: str) -> Event | None:
    with db.read() as s:
        return s.execute(sa.select(Event).where(Event.uuid == uuid.UUID(sentry_id))).scalar_one_or_none()


def wait_for_event(db: Database, sentry_id: str, timeout: float = 30.0) -> Event:
    found = wait_until(lambda: stored_event(db, sentry_id), timeout)
    assert found is not None, f"event {sentry_id} not stored within {timeout}s"
    return found


@contextmanager
def logged_in(server: LiveServer, creds: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as web:
        token = re.search(r'name="login_token" value="([^"]+)"', web.get("/login").text)
        assert token
        web.post(
            "/login",
            data={"email": creds["login"], "password": creds["password"], "login_token": token.group(1), "next": "/"},
        )
        yield web


def test_chained_exception_with_vars_and_context_lines(
    live_server: LiveServer, live_db: Database, creds: dict[str, str], sdk: list[Any]
) -> None:
    sentry_sdk.set_user({"id": "user-7", "email": "u7@example.com"})
    sentry_sdk.set_tag("plan", "pro")
    sentry_sdk.set_context("cart", {"items": 2})
    sentry_sdk.add_breadcrumb(category="cart", message="added 2 items", level="info")
    first = sentry_sdk.capture_exception(caught(charge, "alice", "12,50"))
    again = sentry_sdk.capture_exception(caught(charge, "bob", "7,00"))  # same code path: same issue
    sentry_sdk.flush(10)
    assert first and again
    event = wait_for_event(live_db, first)
    wait_for_event(live_db, again)

    with live_db.read() as s:
        issues = s.execute(sa.select(Issue).where(Issue.name == "RuntimeError")).scalars().all()
        assert len(issues) == 1 and issues[0].occurrences == 2 and issues[0].users == 1
        assert issues[0].description == "could not charge alice"
        release = s.execute(sa.select(Release).where(Release.version == "shop@2.0.1")).scalar_one()
        frames = s.execute(sa.select(StackFrame)).scalars().all()

    props = event.properties
    # Sentry sends the root cause first; stored outermost first, as PostHog's chains are.
    assert props["$exception_types"] == ["RuntimeError", "ValueError"]
    assert event.lib == "sentry.python" and props["$lib_version"] == sentry_sdk.VERSION
    assert event.distinct_id == "user-7" and event.level == "error"
    assert props["plan"] == "pro" and props["environment"] == "staging" and props["release"] == "shop@2.0.1"
    assert props["$exception_release"]["id"] == str(release.id)
    assert props["$sentry_breadcrumbs"][-1]["message"] == "added 2 items"
    assert props["$sentry_contexts"]["cart"] == {"items": 2} and "trace" in props["$sentry_contexts"]
    outer, _inner = props["$exception_list"]
    charge_frame = next(f for f in outer["stacktrace"]["frames"] if f.get("resolved_name") == "charge")
    assert charge_frame["code_variables"]["user"] == "'alice'"
    assert charge_frame["code_variables"]["cart_total"] == "35"
    assert charge_frame["in_app"] is True and charge_frame["lang"] == "python"
    parse_frame = next(f for f in frames if f.contents.get("resolved_name") == "parse_amount")
    assert parse_frame.context["line"]["line"].strip() == "return int(raw) * 100"

    # The event page shows local variables and breadcrumbs.
    with logged_in(live_server, creds) as web:
        page = web.get(f"/project/{creds['project_id']}/issues/{issues[0].id}?event={event.uuid}")
        assert page.status_code == 200, page.text[:300]
        assert "Local variables" in page.text and "cart_total" in page.text and "&#39;alice&#39;" in page.text
        assert "Breadcrumbs" in page.text and "added 2 items" in page.text


def test_messages_group_by_normalised_text(live_db: Database, sdk: list[Any]) -> None:
    ids = [
        sentry_sdk.capture_message("order 41 failed to ship", level="warning"),
        sentry_sdk.capture_message("order 977 failed to ship", level="warning"),
        sentry_sdk.capture_message("inventory sync stalled"),
    ]
    sentry_sdk.flush(10)
    stored = [wait_for_event(live_db, i) for i in ids if i]
    assert len(stored) == 3
    assert stored[0].issue_id == stored[1].issue_id != stored[2].issue_id
    assert stored[0].level == "warning"
    with live_db.read() as s:
        issue = s.get(Issue, stored[0].issue_id)
        assert issue is not None and issue.name == "order 41 failed to ship"


def test_fingerprint_with_default_splits(live_db: Database, sdk: list[Any]) -> None:
    plain = sentry_sdk.capture_exception(caught(raise_it, PaymentDeclined("card expired")))
    split = sentry_sdk.capture_exception(
        caught(raise_it, PaymentDeclined("card expired")), fingerprint=["{{ default }}", "x"]
    )
    split_again = sentry_sdk.capture_exception(
        caught(raise_it, PaymentDeclined("card stolen")), fingerprint=["{{ default }}", "x"]
    )
    only_custom = sentry_sdk.capture_exception(caught(raise_it, PaymentDeclined("?")), fingerprint=["payments"])
    sentry_sdk.flush(10)
    a, b, c, d = (wait_for_event(live_db, i) for i in (plain, split, split_again, only_custom) if i)
    assert a.issue_id != b.issue_id  # "{{ default }}" + "x": split off the default group
    assert b.issue_id == c.issue_id  # … and stable: the same default + "x" again
    assert d.issue_id not in (a.issue_id, b.issue_id)
    assert b.properties["$exception_fingerprint_record"][0]["template"] == ["{{ default }}", "x"]


def test_rules_from_the_rest_api_apply(
    live_server: LiveServer, live_db: Database, creds: dict[str, str], sdk: list[Any]
) -> None:
    base = api(live_server, creds, "error_tracking")

    def leaf(key: str, operator: str, value: object) -> dict[str, Any]:
        return {"type": "AND", "values": [{"key": key, "type": "event", "operator": operator, "value": value}]}

    grouping = httpx.post(
        f"{base}/grouping_rules/", headers=auth(creds), json={"filters": leaf("plan", "exact", ["enterprise"])}
    )
    assert grouping.status_code == 201, grouping.text
    suppression = httpx.post(
        f"{base}/suppression_rules/",
        headers=auth(creds),
        json={"filters": leaf("$exception_types", "exact", ["HealthCheckNoise"])},
    )
    assert suppression.status_code == 201, suppression.text

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("plan", "enterprise")
        grouped = [
            sentry_sdk.capture_exception(caught(raise_it, KeyError("a"))),
            sentry_sdk.capture_exception(caught(raise_it, TypeError("b"))),
        ]
    noise = sentry_sdk.capture_exception(caught(raise_it, HealthCheckNoise("ping")))
    marker = sentry_sdk.capture_message("after the noise")
    sentry_sdk.flush(10)
    first, second = (wait_for_event(live_db, i) for i in grouped if i)
    assert first.issue_id == second.issue_id  # two exception types, one issue: the grouping rule's
    assert first.properties["$exception_fingerprint_record"][0]["type"] == "custom"
    assert marker
    wait_for_event(live_db, marker)
    assert noise and stored_event(live_db, noise) is None
    report = httpx.get(f"{base}/ingestion/", headers=auth(creds)).json()
    assert report["totals"]["dropped_suppressed"] >= 1


def test_client_reports_show_in_diagnostics(live_server: LiveServer, creds: dict[str, str]) -> None:
    sentry_sdk.init(dsn=creds["dsn"], before_send=lambda event, hint: None, default_integrations=False)
    for _ in range(3):
        sentry_sdk.capture_exception(caught(raise_it, ValueError("filtered")))
    sentry_sdk.flush(10)  # flushing sends the client report of the three events before_send dropped
    sentry_sdk.init(dsn=None)
    url = api(live_server, creds, "error_tracking/ingestion/")

    def reported() -> dict[str, Any] | None:
        report = httpx.get(url, headers=auth(creds)).json()
        rows = {(r["reason"], r["category"]): r["quantity"] for r in report["client_reports"]}
        return report if rows.get(("before_send", "error"), 0) >= 3 else None

    report = wait_until(reported, 20)
    assert report, httpx.get(url, headers=auth(creds)).json()
    assert report["sentry_items"]["client_report"] >= 1
    with logged_in(live_server, creds) as web:
        page = web.get(f"/project/{creds['project_id']}/ingestion").text
    assert "Dropped by the SDKs themselves" in page and "<code>before_send</code>" in page


def test_dsn_keys_api_disable_and_conflicts(live_server: LiveServer, creds: dict[str, str]) -> None:
    keys_url = f"{live_server.url}/api/projects/{creds['project_id']}/dsn_keys/"
    listed = httpx.get(keys_url, headers=auth(creds)).json()
    assert listed["count"] == 1 and listed["results"][0]["dsn"] == creds["dsn"]
    with logged_in(live_server, creds) as web:
        assert creds["dsn"] in web.get(f"/project/{creds['project_id']}/settings").text
    created = httpx.post(keys_url, headers=auth(creds), json={"label": "mobile"})
    assert created.status_code == 201
    key = created.json()
    assert key["dsn"] == f"http://{key['public_key']}@127.0.0.1:{live_server.port}/{creds['project_id']}"
    envelope_url = f"{live_server.url}/api/{creds['project_id']}/envelope/"
    body = b'{}\n{"type":"event"}\n{"message":"hello from mobile"}\n'

    def send(**params: str) -> httpx.Response:
        return httpx.post(envelope_url, params=params, content=body)

    assert send(sentry_key=key["public_key"]).status_code == 200
    patched = httpx.patch(f"{keys_url}{key['id']}/", headers=auth(creds), json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    refused = wait_until(lambda: (r := send(sentry_key=key["public_key"])).status_code == 403 and r, 30)
    assert refused, "a disabled key kept working"
    assert "disabled" in refused.headers["X-Sentry-Error"] and refused.json()["code"] == "dsn_key_disabled"

    default_key = listed["results"][0]["public_key"]
    conflict = httpx.post(
        envelope_url,
        params={"sentry_key": default_key},
        headers={"X-Sentry-Auth": "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7"},
        content=body,
    )
    assert conflict.status_code == 401 and "Conflicting DSN keys" in conflict.headers["X-Sentry-Error"]
    unknown = httpx.post(envelope_url, params={"sentry_key": "f" * 32}, content=body)
    assert unknown.status_code == 401 and unknown.json()["code"] == "invalid_dsn_key"
    wrong_project = httpx.post(f"{live_server.url}/api/999/envelope/", params={"sentry_key": default_key}, content=body)
    assert wrong_project.status_code == 403 and "/1" in wrong_project.headers["X-Sentry-Error"]
    missing = httpx.post(envelope_url, content=body)
    assert missing.status_code == 401 and "X-Sentry-Auth" in missing.headers["X-Sentry-Error"]
    preflight = httpx.options(
        envelope_url,
        headers={"Origin": "http://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert "X-Sentry-Auth" in preflight.headers["Access-Control-Allow-Headers"]
    assert "X-Sentry-Error" in preflight.headers["Access-Control-Expose-Headers"]


def test_tunnel_envelope_with_only_the_header_dsn(
    live_server: LiveServer, live_db: Database, creds: dict[str, str]
) -> None:
    """A tunnel (`tunnel:` option of the browser SDKs) forwards the envelope as it is: no auth header, no query."""
    event_id = uuid.uuid4().hex
    header = {"event_id": event_id, "dsn": creds["dsn"], "sent_at": "2026-11-22T12:00:00Z"}
    event = {
        "event_id": event_id,
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError", "value": "tunnelled", "stacktrace": {"frames": []}}]},
    }
    body = "\n".join(json.dumps(x) for x in (header, {"type": "event"}, event)) + "\n"
    answer = httpx.post(
        f"{live_server.url}/api/{creds['project_id']}/envelope/",
        content=body.encode(),
        headers={"Content-Type": "application/x-sentry-envelope"},
    )
    assert answer.status_code == 200 and answer.json() == {"id": event_id}
    stored = wait_for_event(live_db, event_id)
    assert stored.properties["$exception_values"] == ["tunnelled"]

    other_project = dict(header, dsn=creds["dsn"].rsplit("/", 1)[0] + "/77")
    body = "\n".join(json.dumps(x) for x in (other_project, {"type": "event"}, event)) + "\n"
    refused = httpx.post(f"{live_server.url}/api/{creds['project_id']}/envelope/", content=body.encode())
    assert refused.status_code == 401 and "project 77" in refused.headers["X-Sentry-Error"]


def test_recorded_fixture_with_its_recorded_headers(live_server: LiveServer, live_db: Database) -> None:
    """`samples/sentry_python_envelope.body.gz`: sentry-python 2.75.0 as recorded (project 42, key public123abc)."""
    meta = json.loads((SAMPLES / "sentry_python_requests.meta.json").read_text())["sentry_python_envelope.txt"]
    with live_db.write() as s:
        org_id = s.execute(sa.select(Project.organization_id).limit(1)).scalar_one()
        s.add(Project(id=42, organization_id=org_id, name="Recorded", api_token="phc_recorded_fixture"))
        s.flush()
        s.add(DsnKey(project_id=42, public_key="public123abc", label="recorded"))
    body = (SAMPLES / "sentry_python_envelope.body.gz").read_bytes()
    # Every recorded header but Content-Length, which httpx sets (the stored gzip file is 1 byte longer than the
    # recorded body: its gzip header differs, its contents do not).
    headers = {k: v for k, v in meta["headers"].items() if k != "Content-Length"}
    answer = httpx.post(f"{live_server.url}{meta['path']}", content=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    event_id = json.loads(gzip.decompress(body).split(b"\n", 1)[0])["event_id"]
    assert answer.json() == {"id": event_id}
    stored = wait_for_event(live_db, event_id)
    assert stored.project_id == 42
    assert stored.properties["$exception_types"] == ["RuntimeError", "ValueError"]
    assert stored.properties["environment"] == "staging" and stored.distinct_id == "user-123"
    assert stored.timestamp.isoformat().startswith("2026-11-22")
    # Re-sent (an SDK retry): stored once.
    assert httpx.post(f"{live_server.url}{meta['path']}", content=body, headers=headers).status_code == 200
    time.sleep(1.5)
    with live_db.read() as s:
        count = s.execute(sa.select(sa.func.count()).select_from(Event).where(Event.project_id == 42)).scalar_one()
    assert count == 1
