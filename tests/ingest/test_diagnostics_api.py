"""The ingestion diagnostics endpoint: counters from both stages, recent errors, tenancy and scopes."""

from __future__ import annotations

import json

import sqlalchemy as sa

from faultline.accounts.models import User
from tests.conftest import make_tenant
from tests.ingest.conftest import Capture
from tests.support.ingest import exception_event


def report(capture: Capture, headers: dict | None = None, project_id: int | None = None):
    pid = project_id or capture.tenant.project.id
    return capture.client.get(
        f"/api/environments/{pid}/error_tracking/ingestion/",
        headers=capture.tenant.headers if headers is None else headers,
    )


def test_counters_errors_and_queue_backlog(capture: Capture) -> None:
    token = capture.token
    ok = json.dumps({"api_key": token, "batch": [exception_event(), exception_event(), {"event": "$pageview"}]})
    empty = json.dumps(
        {
            "api_key": token,
            "batch": [{"event": "$exception", "properties": {"$exception_list": [], "$exception_type": 5}}],
        }
    )
    assert capture.post("/batch/", ok.encode()).status_code == 200
    assert capture.post("/batch/", empty.encode()).status_code == 400
    assert capture.post("/batch/", b'{"api_key":"phc_wrong","batch":[]}').status_code == 401
    capture.flush()
    before = report(capture).json()
    assert before["queue"] == {"backend": "sqlite", "pending": 2}
    assert (before["totals"]["received"], before["totals"]["accepted"]) == (2, 0)
    capture.digest()
    body = report(capture).json()
    assert body["queue"]["pending"] == 0
    assert body["totals"] == {
        "received": 2,
        "accepted": 2,
        "duplicate": 0,
        "dropped_invalid": 0,
        "dropped_suppressed": 0,
        "rejected_invalid": 1,
        "too_large": 0,
        "queue_full": 0,
        "rate_limited": 0,
        "new_issue_limited": 0,
        "non_exception": 1,
        "failed": 0,
    }
    assert len(body["days"]) == 1 and body["days"][0]["counters"]["accepted"] == 2
    codes = [e["code"] for e in body["recent_errors"]]
    assert codes == ["invalid_event"]  # the unknown-token error is not this project's (and the user is no admin)


def test_unknown_token_errors_are_for_instance_admins_only(capture: Capture) -> None:
    assert capture.post("/batch/", b'{"api_key":"phc_wrong","batch":[]}').status_code == 401
    capture.flush()
    with capture.db.write() as session:
        session.execute(sa.update(User).where(User.id == capture.tenant.user.id).values(is_staff=True))
    try:
        errors = report(capture).json()["recent_errors"]
        assert errors[0]["code"] == "invalid_token" and errors[0]["project_scoped"] is False
    finally:
        with capture.db.write() as session:
            session.execute(sa.update(User).where(User.id == capture.tenant.user.id).values(is_staff=False))


def test_auth_scope_and_tenancy(capture: Capture) -> None:
    assert report(capture, headers={}).status_code == 401
    other = make_tenant(capture.db, email=f"other-{id(capture)}@globex.test", name="Globex")
    assert report(capture, headers=other.headers).status_code == 404
    reader = make_tenant(capture.db, email=f"nokey-{id(capture)}@initech.test", name="Initech", scopes=["project:read"])
    assert report(capture, headers=reader.headers, project_id=reader.project.id).status_code == 403
    assert report(capture, project_id=capture.tenant.project.id).status_code == 200
