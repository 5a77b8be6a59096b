"""The issue list page: real digest output, tabs, search (free text and `key:value`), sort, assignee filter,
sparklines, pagination and bulk actions — all through the logged-in UI, checked against the database."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.issues.models import ActivityLog, Issue, IssueAssignment
from tests.conftest import Tenant
from tests.support.factories import Ev, create_issue
from tests.support.ingest import exception_event, ingest, load_sample_events
from tests.web.conftest import csrf_from

ROW = re.compile(r'<a class="issue-title" href="/project/\d+/issues/([0-9a-f-]+)">([^<]*)</a>')


def listed(html: str) -> list[str]:
    return [name for _id, name in ROW.findall(html)]


def url(tenant: Tenant, query: str = "") -> str:
    return f"/project/{tenant.project.id}/issues" + (f"?{query}" if query else "")


@pytest.fixture
def sample_issues(db: Database, seed: Tenant) -> dict[str, uuid.UUID]:
    outcomes = ingest(db, seed.project, load_sample_events("posthog_python_exception.json"))
    outcomes += ingest(db, seed.project, load_sample_events("posthog_js_exception.json"))
    with db.read() as session:
        return {name: issue_id for issue_id, name in session.execute(sa.select(Issue.id, Issue.name)).all()}


def test_list_shows_ingested_issues_with_numbers_and_sparklines(
    logged_in: TestClient, seed: Tenant, sample_issues: dict[str, uuid.UUID]
) -> None:
    html = logged_in.get(url(seed)).text
    assert sorted(listed(html)) == ["RuntimeError", "TypeError"]
    assert "could not charge alice" in html and "Cart is empty: cannot check out cart-42" in html
    # Both windows are drawn for every row, labelled with their totals (1 event each, in the current hour/day).
    assert html.count('aria-label="Events per hour, last 24 hours: 1 event, peak 1"') == 2
    assert html.count('aria-label="Events per day, last 14 days: 1 event, peak 1"') == 2
    assert len(re.findall(r"<time [^>]*title=\"[0-9-]+ [0-9:]+ UTC\">[^<]+</time>", html)) == 4
    assert re.search(r'aria-current="page">Active <span class="count">2</span>', html)


def test_status_tabs_search_and_property_terms(
    logged_in: TestClient, seed: Tenant, sample_issues: dict[str, uuid.UUID], db: Database
) -> None:
    with db.write() as session:
        session.execute(sa.update(Issue).where(Issue.name == "TypeError").values(status="resolved"))
    assert listed(logged_in.get(url(seed)).text) == ["RuntimeError"]
    assert listed(logged_in.get(url(seed, "status=resolved")).text) == ["TypeError"]
    assert sorted(listed(logged_in.get(url(seed, "status=all")).text)) == ["RuntimeError", "TypeError"]
    assert listed(logged_in.get(url(seed, "status=all&q=alice")).text) == ["RuntimeError"]
    assert listed(logged_in.get(url(seed, "status=all&q=%24lib%3Aweb")).text) == ["TypeError"]
    assert listed(logged_in.get(url(seed, "status=all&q=plan%3Aenterprise")).text) == []
    # An unknown tab falls back to the default rather than failing.
    assert listed(logged_in.get(url(seed, "status=bogus")).text) == ["RuntimeError"]


def test_bad_filters_answer_inline_not_500(logged_in: TestClient, seed: Tenant) -> None:
    response = logged_in.get(url(seed, "q=" + "x" * 300))
    assert response.status_code == 400
    assert "Ensure this field has no more than 200 characters." in response.text
    assert 'id="q"' in response.text and 'aria-invalid="true"' in response.text
    response = logged_in.get(url(seed, "assignee=user%3Aabc"))
    assert response.status_code == 400 and 'id="err-assignee"' in response.text


def test_sort_assignee_filter_and_pagination(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    now = utcnow()
    with db.write() as session:
        for index in range(55):
            create_issue(
                session,
                seed.project.id,
                name=f"Issue {index:02d}",
                events=[Ev(now - dt.timedelta(minutes=index), f"u{k}") for k in range(index % 4 + 1)],
            )
        mine = session.execute(sa.select(Issue.id).where(Issue.name == "Issue 07")).scalar_one()
        session.execute(
            sa.insert(IssueAssignment.__table__),
            [{"id": uuid.uuid4(), "issue_id": mine, "project_id": seed.project.id, "user_id": seed.user.id}],
        )
    first = logged_in.get(url(seed)).text
    assert listed(first)[:3] == ["Issue 00", "Issue 01", "Issue 02"] and len(listed(first)) == 50
    assert "1–50 of 55" in first
    second = logged_in.get(url(seed, "offset=50")).text
    assert listed(second) == [f"Issue {i}" for i in range(50, 55)]
    by_users = listed(logged_in.get(url(seed, "order=users")).text)
    assert all(int(name[-2:]) % 4 == 3 for name in by_users[:13])  # the four-user issues first
    assert listed(logged_in.get(url(seed, "assignee=me")).text) == ["Issue 07"]
    assert "@ you" in logged_in.get(url(seed, "assignee=me")).text
    assert len(listed(logged_in.get(url(seed, "assignee=unassigned&limit=100")).text)) == 54


def _bulk(client: TestClient, tenant: Tenant, **data: object):
    token = csrf_from(client.get(url(tenant)).text)
    return client.post(
        f"/project/{tenant.project.id}/issues/bulk",
        data={"csrf_token": token, "next": url(tenant), **data},
        follow_redirects=False,
    )


def test_bulk_resolve_assign_and_merge(
    logged_in: TestClient, seed: Tenant, sample_issues: dict[str, uuid.UUID], db: Database
) -> None:
    ids = [str(i) for i in sample_issues.values()]
    response = _bulk(logged_in, seed, action="resolve", ids=ids)
    assert response.status_code == 303 and response.headers["location"] == url(seed)
    assert "Resolved 2 issues." in logged_in.get(response.headers["location"]).text
    with db.read() as session:
        assert set(session.execute(sa.select(Issue.status)).scalars()) == {"resolved"}
        logged = session.execute(sa.select(ActivityLog.user_id).where(ActivityLog.activity == "updated")).all()
        assert logged and all(user_id == seed.user.id for (user_id,) in logged)

    assert _bulk(logged_in, seed, action="activate", ids=ids).status_code == 303
    assert _bulk(logged_in, seed, action="assign", assignee=f"user:{seed.user.id}", ids=ids).status_code == 303
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(IssueAssignment)).scalar_one() == 2

    target = str(sample_issues["TypeError"])
    response = _bulk(logged_in, seed, action="merge", ids=[target, str(sample_issues["RuntimeError"])])
    assert response.status_code == 303
    with db.read() as session:
        [(issue_id, occurrences)] = session.execute(sa.select(Issue.id, Issue.occurrences)).all()
    assert str(issue_id) == target and occurrences == 2


def test_bulk_refusals_are_inline(logged_in: TestClient, seed: Tenant, sample_issues: dict[str, uuid.UUID]) -> None:
    one = str(next(iter(sample_issues.values())))
    cases = [
        ({"action": "resolve"}, "Select at least one issue first."),
        ({"action": "merge", "ids": [one]}, "Select at least two issues to merge."),
        ({"action": "explode", "ids": [one]}, "Choose an action"),
        ({"action": "assign", "assignee": "user:xyz", "ids": [one]}, "Choose someone from the list"),
        ({"action": "assign", "assignee": "user:999999", "ids": [one]}, "does not belong to this organization"),
        ({"action": "resolve", "ids": ["not-a-uuid"]}, "Select at least one issue first."),
    ]
    for data, message in cases:
        response = _bulk(logged_in, seed, **data)
        assert response.status_code == 400, data
        assert message in response.text and 'id="bulk-error"' in response.text


def test_bulk_needs_csrf_and_ignores_other_projects(
    logged_in: TestClient, seed: Tenant, other_tenant: Tenant, db: Database
) -> None:
    with db.write() as session:
        foreign = create_issue(session, other_tenant.project.id, name="Theirs")
    response = logged_in.post(
        f"/project/{seed.project.id}/issues/bulk", data={"action": "resolve", "ids": [str(foreign.id)]}
    )
    assert response.status_code == 403
    response = _bulk(logged_in, seed, action="resolve", ids=[str(foreign.id)])
    assert response.status_code == 303
    assert "Resolved 0 issues." in logged_in.get(response.headers["location"]).text
    with db.read() as session:
        assert session.get(Issue, foreign.id).status == "active"
    # The other organization's list itself is a 404, like every object of theirs.
    assert logged_in.get(url(other_tenant)).status_code == 404


def test_empty_project_points_at_setup(logged_in: TestClient, seed: Tenant) -> None:
    html = logged_in.get(url(seed)).text
    assert "No errors yet" in html and f'href="/project/{seed.project.id}/settings"' in html


def test_project_home_is_the_issue_list(logged_in: TestClient, seed: Tenant) -> None:
    response = logged_in.get(f"/project/{seed.project.id}/", follow_redirects=False)
    assert response.headers["location"] == url(seed)


def test_handled_python_event_in_list(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    ingest(db, seed.project, [exception_event("ZeroDivisionError", "division by zero")])
    assert listed(logged_in.get(url(seed, "q=division")).text) == ["ZeroDivisionError"]
