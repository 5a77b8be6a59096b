"""The issue page on real digest output: chained stack trace with context lines, why-not-mapped, grouping record,
event browser, properties, activity — and its forms (status, assignee, severity, title, merge, split)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.issues.models import Event, Issue, IssueAssignment, IssueFingerprint
from tests.conftest import Tenant
from tests.support.factories import Ev, create_issue
from tests.support.ingest import exception_event, ingest, load_sample_events, python_frame
from tests.web.conftest import csrf_from


def page_url(tenant: Tenant, issue_id: object, query: str = "") -> str:
    return f"/project/{tenant.project.id}/issues/{issue_id}" + (f"?{query}" if query else "")


def alerts(html: str) -> list[str]:
    return re.findall(r'class="(?:field|form)-error"[^>]*>([^<]*)<', html)


@pytest.fixture
def python_issue(db: Database, seed: Tenant) -> uuid.UUID:
    [outcome] = ingest(db, seed.project, load_sample_events("posthog_python_exception.json"))
    assert outcome.issue_id is not None
    return outcome.issue_id


def test_chained_trace_outermost_first_with_highlighted_context(
    logged_in: TestClient, seed: Tenant, python_issue: uuid.UUID
) -> None:
    html = logged_in.get(page_url(seed, python_issue)).text
    html = re.sub(r'<span class="tk-[a-z]">([^<]*)</span>', r"\1", html)  # syntax highlighting (test_issue_insights)
    assert '<h1 id="issue-title">RuntimeError</h1>' in html
    runtime, caused, value = html.index(">RuntimeError</h3>"), html.index("↳ caused by"), html.index(">ValueError</h3>")
    assert runtime < caused < value  # the named exception first, then its cause
    # The top in-app frame of each exception is open, with the crashing line marked.
    crash_lines = re.findall(
        r'<span class="ln crash" aria-current="true"><span class="no">(\d+)</span>([^<]*)</span>', html
    )
    assert ("13", "        raise RuntimeError(f&#34;could not charge {user}&#34;) from exc") in crash_lines
    assert ("6", "    return int(raw) * 100") in crash_lines
    assert '<span class="fn">parse_amount</span>' in html and "myapp/billing.py:6" in html
    assert "Grouped by</strong> type RuntimeError + type ValueError + 4 frames" in html
    assert "Event <span data-event-index>1</span> of 1" in html
    assert "<code>posthog-python 7.91.1</code>" in html  # SDK fact
    assert re.search(r"<th scope=\"row\"><code>plan</code></th><td><code>[^<]+</code>", html)


def test_unmapped_frames_say_why(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    [outcome] = ingest(db, seed.project, load_sample_events("posthog_js_exception.json"))
    html = logged_in.get(page_url(seed, outcome.issue_id)).text
    assert (
        "<strong>Why not mapped:</strong> No sourcemap uploaded for chunk id: 0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b"
        in html
    )
    assert html.count('<span class="badge warn">not mapped</span>') == 3
    # Library frames (Node timers) are folded into one run instead of pushing the app frames down.
    assert "2 library frames (listOnTimeout, process.processTimers)" in html
    assert "<dt>URL</dt><dd><code>http://localhost:3000/checkout</code>" in html


def test_event_browser_newest_first_with_prev_next(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    now = utcnow()
    frames = [python_frame("handler", 10)]
    events = [
        exception_event("KeyError", "sku", frames=frames, timestamp=(now - dt.timedelta(minutes=m)).isoformat())
        for m in (30, 20, 10)
    ]
    outcomes = ingest(db, seed.project, events)
    issue_id = outcomes[0].issue_id
    assert {o.issue_id for o in outcomes} == {issue_id}
    newest, middle, oldest = outcomes[2].uuid, outcomes[1].uuid, outcomes[0].uuid
    html = logged_in.get(page_url(seed, issue_id)).text
    assert "Event <span data-event-index>1</span> of 3" in html and str(newest) in html
    assert f'href="{page_url(seed, issue_id)}?event={middle}" rel="next"' in html
    html = logged_in.get(page_url(seed, issue_id, f"event={middle}")).text
    assert "Event <span data-event-index>2</span> of 3" in html
    assert f'?event={newest}" rel="prev"' in html and f'?event={oldest}" rel="next"' in html
    html = logged_in.get(page_url(seed, issue_id, f"event={oldest}")).text
    assert "Event <span data-event-index>3</span> of 3" in html and "Older ›</span>" in html
    # Unknown, malformed or other issues' event ids are 404 pages, not errors.
    assert logged_in.get(page_url(seed, issue_id, f"event={uuid.uuid4()}")).status_code == 404
    assert logged_in.get(page_url(seed, issue_id, "event=nope")).status_code == 404


def _post(client: TestClient, tenant: Tenant, issue_id: object, action: str, **data: object):
    token = csrf_from(client.get(page_url(tenant, issue_id)).text)
    return client.post(
        f"{page_url(tenant, issue_id)}/{action}", data={"csrf_token": token, **data}, follow_redirects=False
    )


def test_status_assignee_severity_and_title_forms(
    logged_in: TestClient, seed: Tenant, python_issue: uuid.UUID, db: Database
) -> None:
    assert _post(logged_in, seed, python_issue, "status", status="resolved").status_code == 303
    assert _post(logged_in, seed, python_issue, "assign", assignee=f"user:{seed.user.id}").status_code == 303
    assert _post(logged_in, seed, python_issue, "severity", severity="high").status_code == 303
    response = _post(logged_in, seed, python_issue, "rename", name="Billing broken", description="cents parsing")
    assert response.status_code == 303
    page = logged_in.get(response.headers["location"]).text
    assert "Title and description saved." in page
    with db.read() as session:
        issue = session.get(Issue, python_issue)
        assert (issue.status, issue.severity, issue.name, issue.description) == (
            "resolved",
            "high",
            "Billing broken",
            "cents parsing",
        )
        assert session.execute(sa.select(IssueAssignment.user_id)).scalar_one() == seed.user.id
    # The activity log tells the story in words, newest first.
    activity = page[page.index('id="activity-title"') :]
    lines = re.findall(r"<li><strong>You</strong> ([^<\n]+)", activity)
    assert lines[:3] == ["renamed it to “Billing broken”", "set severity to high", "assigned the issue to yourself"]
    assert "changed status from Active to Resolved" in lines
    assert "Reopen</button>" in page and 'value="resolved" class="primary">Resolve' not in page

    assert _post(logged_in, seed, python_issue, "assign", assignee="").status_code == 303
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(IssueAssignment)).scalar_one() == 0


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("status", {"status": "archived"}, '"archived" is not a valid choice.'),
        ("status", {}, "is not a valid choice"),
        ("severity", {"severity": "urgent"}, '"urgent" is not a valid choice.'),
        ("assign", {"assignee": "user:999999"}, "Assignee user does not belong to this organization."),
        ("assign", {"assignee": "someone"}, "Choose someone from the list."),
        ("rename", {"name": "   "}, "The issue needs a title."),
        ("rename", {"name": "x" * 2001}, "Ensure this field has no more than 2000 characters"),
        ("merge", {}, "Tick the issues to merge into this one."),
        ("merge", {"ids": [str(uuid.uuid4())]}, "None of the ticked issues can be merged"),
        ("split", {}, "Tick the fingerprints to move into new issues."),
    ],
)
def test_bad_input_is_refused_inline(
    logged_in: TestClient, seed: Tenant, python_issue: uuid.UUID, action: str, data: dict, message: str
) -> None:
    response = _post(logged_in, seed, python_issue, action, **data)
    assert response.status_code == 400, response.text[:300]
    assert any(message.replace('"', "&#34;") in text for text in alerts(response.text)), alerts(response.text)
    assert '<h1 id="issue-title">RuntimeError</h1>' in response.text  # the issue page, not an error page


def test_merge_and_split_from_the_issue_page(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    now = utcnow()
    with db.write() as session:
        target = create_issue(
            session,
            seed.project.id,
            name="Target",
            fingerprints=["fp-a", "fp-b"],
            events=[Ev(now, "u1", "fp-a"), Ev(now - dt.timedelta(minutes=1), "u2", "fp-b")],
        )
        source = create_issue(session, seed.project.id, name="Source", fingerprints=["fp-c"], events=[Ev(now, "u3")])
    html = logged_in.get(page_url(seed, target.id, "merge_q=Source")).text
    assert f'name="ids" value="{source.id}"' in html  # the search finds merge candidates
    assert _post(logged_in, seed, target.id, "merge", ids=[str(source.id)]).status_code == 303
    with db.read() as session:
        assert session.get(Issue, source.id) is None
        owners = dict(session.execute(sa.select(IssueFingerprint.fingerprint, IssueFingerprint.issue_id)).all())
    assert owners == {"fp-a": target.id, "fp-b": target.id, "fp-c": target.id}

    refused = _post(logged_in, seed, target.id, "split", fingerprints=["fp-a", "fp-b", "fp-c"])
    assert refused.status_code == 400 and "Keep at least one fingerprint in this issue" in refused.text
    response = _post(logged_in, seed, target.id, "split", fingerprints=["fp-b"])
    assert response.status_code == 303
    page = logged_in.get(response.headers["location"]).text
    assert "Split 1 fingerprint off into a new issue." in page and "split 1 fingerprint off into a new issue" in page
    with db.read() as session:
        new_owner = session.execute(
            sa.select(IssueFingerprint.issue_id).where(IssueFingerprint.fingerprint == "fp-b")
        ).scalar_one()
        moved = session.execute(sa.select(Event.issue_id).where(Event.fingerprint == "fp-b")).scalars().all()
    assert new_owner != target.id and moved == [new_owner]
    assert f'href="/project/{seed.project.id}/issues/{new_owner}">new issue 1</a>' in page


def test_other_organizations_issues_are_404(
    logged_in: TestClient, seed: Tenant, other_tenant: Tenant, db: Database
) -> None:
    with db.write() as session:
        theirs = create_issue(session, other_tenant.project.id, name="Secret", events=[Ev(utcnow())])
    for path in (
        page_url(other_tenant, theirs.id),  # their project
        page_url(seed, theirs.id),  # their issue under our project
        page_url(seed, "not-a-uuid"),
    ):
        response = logged_in.get(path)
        assert response.status_code == 404, path
        assert "Secret" not in response.text
    token = csrf_from(logged_in.get(f"/project/{seed.project.id}/issues").text)
    response = logged_in.post(
        f"{page_url(seed, theirs.id)}/status", data={"csrf_token": token, "status": "resolved"}, follow_redirects=False
    )
    assert response.status_code == 404
    with db.read() as session:
        assert session.get(Issue, theirs.id).status == "active"


def test_forms_without_csrf_are_refused(
    logged_in: TestClient, seed: Tenant, python_issue: uuid.UUID, db: Database
) -> None:
    for action, data in (("status", {"status": "resolved"}), ("merge", {"ids": [str(uuid.uuid4())]})):
        response = logged_in.post(f"{page_url(seed, python_issue)}/{action}", data=data, follow_redirects=False)
        assert response.status_code == 403
    with db.read() as session:
        assert session.get(Issue, python_issue).status == "active"


def test_logged_out_visitors_are_sent_to_login(client: TestClient, seed: Tenant, python_issue: uuid.UUID) -> None:
    response = client.get(page_url(seed, python_issue), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
