"""What the issue page shows beyond the trace: local variables per frame, exports (raw JSON, traceback, Markdown),
releases (first seen in, seen in, regression) and breakdowns — and the same data in the REST API."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.issues.models import ActivityLog, Issue, IssueTag
from faultline.symbols.models import StackFrame
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest, load_sample_events, python_frame
from tests.web.conftest import csrf_from


def page_url(tenant: Tenant, issue_id: object, query: str = "") -> str:
    return f"/project/{tenant.project.id}/issues/{issue_id}" + (f"?{query}" if query else "")


def api(tenant: Tenant, path: str) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking/{path}"


def textarea(page: str, element_id: str) -> str:
    match = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, f"no #{element_id}"
    return html_lib.unescape(match.group(1))


def at(minutes_ago: int) -> str:
    return (utcnow() - dt.timedelta(minutes=minutes_ago)).isoformat()


# -- local variables ------------------------------------------------------------------------------------------------


def test_local_variables_belong_to_their_event_not_to_the_shared_frame(
    logged_in: TestClient, seed: Tenant, db: Database
) -> None:
    """Two events of one batch run the same line with other values: each page shows its own, and the shared
    stack-frame row (one per raw frame) holds none of them."""
    frames = lambda amount: [  # noqa: E731
        python_frame("charge", 13, code_variables={"user": "'alice'", "raw_amount": repr(amount)})
    ]
    first, second = ingest(
        db,
        seed.project,
        [
            exception_event("ValueError", "bad amount", frames=frames("12,50"), timestamp=at(2)),
            exception_event("ValueError", "bad amount", frames=frames("x"), timestamp=at(1)),
        ],
    )
    assert first.issue_id == second.issue_id
    newest = logged_in.get(page_url(seed, first.issue_id)).text
    older = logged_in.get(page_url(seed, first.issue_id, f"event={first.uuid}")).text
    assert '<th scope="row"><code>raw_amount</code></th><td><code>&#39;x&#39;</code></td>' in newest
    assert '<th scope="row"><code>raw_amount</code></th><td><code>&#39;12,50&#39;</code></td>' in older
    assert "&#39;12,50&#39;" not in newest
    assert '<span class="chip" title="This frame has local variables">2 vars</span>' in newest
    with db.read() as session:
        contents = session.execute(sa.select(StackFrame.contents)).scalars().all()
    assert contents and all("code_variables" not in c for c in contents)


def test_sentry_vars_and_nested_values_are_shown_bounded(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    nested = {"items": [1, 2, 3], "owner": {"id": 7}}
    [outcome] = ingest(
        db,
        seed.project,
        [
            exception_event(
                "KeyError", "sku", frames=[python_frame("lookup", 9, vars={"cart": nested, "big": "y" * 5000})]
            )
        ],
    )
    page = logged_in.get(page_url(seed, outcome.issue_id)).text
    assert "<code>{&#34;items&#34;:[1,2,3],&#34;owner&#34;:{&#34;id&#34;:7}}</code>" in page
    assert "y" * 1000 + "… (4000 more characters)" in page and "y" * 1001 not in page


def test_real_posthog_python_code_variables_are_shown(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    """What posthog-python 7.x sends with `capture_exception_code_variables=True` (recorded from the real client
    in tests/e2e/test_issue_insights_live.py): reprs as strings per in-app frame."""
    events = load_sample_events("posthog_python_exception.json")
    frame = events[0]["properties"]["$exception_list"][1]["stacktrace"]["frames"][1]
    frame["code_variables"] = {"raw": "'12,50'"}
    [outcome] = ingest(db, seed.project, events)
    page = logged_in.get(page_url(seed, outcome.issue_id)).text
    assert '<th scope="row"><code>raw</code></th><td><code>&#39;12,50&#39;</code></td>' in page


def test_context_lines_are_syntax_highlighted(logged_in: TestClient, seed: Tenant, python_issue: Any) -> None:
    page = logged_in.get(page_url(seed, python_issue.issue_id)).text
    crash = re.search(r'<span class="ln crash" aria-current="true"><span class="no">6</span>(.*?)</span>\n?<span', page)
    assert crash, "no crash line 6"
    assert crash.group(1) == (
        '    <span class="tk-k">return</span> <span class="tk-b">int</span>(raw) * <span class="tk-n">100</span>'
    )
    assert '<span class="tk-k">def</span> <span class="tk-f">parse_amount</span>(raw):' in page
    # Comments too; nothing is fetched from elsewhere (no CDN, the CSP allows only 'self').
    assert '<span class="tk-c"># converts user input into cents</span>' in page
    assert "cdn" not in page.lower()


# -- exports ------------------------------------------------------------------------------------------------------


@pytest.fixture
def python_issue(db: Database, seed: Tenant) -> Any:
    events = load_sample_events("posthog_python_exception.json")
    events[0]["properties"]["$exception_list"][1]["stacktrace"]["frames"][1]["code_variables"] = {"raw": "'12,50'"}
    [outcome] = ingest(db, seed.project, events)
    return outcome


def test_raw_event_download_is_the_api_event(logged_in: TestClient, seed: Tenant, python_issue: Any) -> None:
    page = logged_in.get(page_url(seed, python_issue.issue_id)).text
    link = f"{page_url(seed, python_issue.issue_id)}/events/{python_issue.uuid}.json"
    assert f'href="{link}" download>Raw event (JSON)</a>' in page
    response = logged_in.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == f'attachment; filename="event-{python_issue.uuid}.json"'
    via_api = logged_in.get(api(seed, f"issues/{python_issue.issue_id}/events/{python_issue.uuid}/"))
    assert response.json() == via_api.json()
    assert response.json()["properties"]["$exception_list"][0]["type"] == "RuntimeError"
    # Another issue's event, or a malformed id, is a 404 page.
    assert logged_in.get(f"{page_url(seed, uuid.uuid4())}/events/{python_issue.uuid}.json").status_code == 404
    assert logged_in.get(f"{page_url(seed, python_issue.issue_id)}/events/nope.json").status_code == 404


def test_raw_event_download_needs_access(client: TestClient, seed: Tenant, python_issue: Any) -> None:
    response = client.get(
        f"{page_url(seed, python_issue.issue_id)}/events/{python_issue.uuid}.json", follow_redirects=False
    )
    assert response.status_code in (302, 303)


def test_copy_traceback_text(logged_in: TestClient, seed: Tenant, python_issue: Any) -> None:
    text = textarea(logged_in.get(page_url(seed, python_issue.issue_id)).text, "traceback-text")
    assert text.splitlines() == [
        "RuntimeError: could not charge alice",
        "  at charge (myapp/billing.py:13)",
        '      raise RuntimeError(f"could not charge {user}") from exc',
        "  at <module> (capture_ph.py:15)",
        '      charge("alice", "12,50")',
        "Caused by: ValueError: invalid literal for int() with base 10: '12,50'",
        "  at parse_amount (myapp/billing.py:6)",
        "      return int(raw) * 100",
        "  at charge (myapp/billing.py:11)",
        "      cents = parse_amount(raw_amount)",
    ]


def test_copy_as_markdown_for_an_ai_assistant(logged_in: TestClient, seed: Tenant, python_issue: Any) -> None:
    text = textarea(logged_in.get(page_url(seed, python_issue.issue_id)).text, "markdown-text")
    assert text.startswith("# Error: RuntimeError\n\ncould not charge alice\n\n- Issue: http://")
    assert f"/project/{seed.project.id}/issues/{python_issue.issue_id}?event={python_issue.uuid}" in text
    assert "- SDK: posthog-python 7.91.1" in text and "- Runtime: CPython 3.11.7" in text
    assert "### Caused by `ValueError: invalid literal for int() with base 10: '12,50'`" in text
    assert "1. `parse_amount` in `myapp/billing.py:6`\n```python\n" in text
    assert "> 6 |     return int(raw) * 100" in text
    assert "Local variables:\n- `raw` = `'12,50'`" in text
    assert text.rstrip().endswith("how should the code be changed to fix it?")


# -- releases -----------------------------------------------------------------------------------------------------


def _release_event(version: str | None, minutes_ago: int, **props: Any) -> dict[str, Any]:
    properties = {"$app_version": version, **props} if version else props
    return exception_event(
        "TimeoutError", "gateway", frames=[python_frame("pay", 3)], properties=properties, timestamp=at(minutes_ago)
    )


def _resolve(client: TestClient, tenant: Tenant, issue_id: object) -> None:
    token = csrf_from(client.get(page_url(tenant, issue_id)).text)
    response = client.post(
        f"{page_url(tenant, issue_id)}/status", data={"csrf_token": token, "status": "resolved"}, follow_redirects=False
    )
    assert response.status_code == 303


def test_first_seen_in_seen_in_and_regression_in_a_newer_release(
    logged_in: TestClient, seed: Tenant, db: Database
) -> None:
    outcomes = ingest(db, seed.project, [_release_event("1.0.0", 50), _release_event("1.0.0", 40)])
    issue_id = outcomes[0].issue_id
    _resolve(logged_in, seed, issue_id)
    # The old build still running: reopened, but not a regression.
    ingest(db, seed.project, [_release_event("1.0.0", 30)])
    with db.read() as session:
        issue = session.get(Issue, issue_id)
        assert (issue.status, issue.regressed_in) == ("active", None)
    _resolve(logged_in, seed, issue_id)
    ingest(db, seed.project, [_release_event("1.1.0", 20)])
    with db.read() as session:
        issue = session.get(Issue, issue_id)
        assert (issue.status, issue.regressed_in) == ("active", "1.1.0")
        trigger = session.execute(
            sa.select(ActivityLog.detail).order_by(ActivityLog.created_at.desc(), ActivityLog.id.desc()).limit(1)
        ).scalar_one()["trigger"]
        assert trigger["type"] == "regression" and trigger["release"] == "1.1.0"
    page = logged_in.get(page_url(seed, issue_id)).text
    assert ">regression in 1.1.0</span>" in page
    assert 'in <code id="first-release">1.0.0</code>' in page
    seen = re.findall(r"<li><code>([^<]+)</code> <span class=\"muted small\">(\d+) events?", page)
    assert seen == [("1.1.0", "1"), ("1.0.0", "3")]

    body = logged_in.get(api(seed, f"issues/{issue_id}/releases/")).json()
    assert body["first_seen_in"] == "1.0.0" and body["regressed_in"] == "1.1.0"
    assert [(r["value"], r["count"]) for r in body["releases"]] == [("1.1.0", 1), ("1.0.0", 3)]


def test_releases_page_lists_event_releases_with_issue_counts(
    logged_in: TestClient, seed: Tenant, db: Database
) -> None:
    other = exception_event("KeyError", "sku", frames=[python_frame("cart", 8)], properties={"$app_version": "2.0"})
    ingest(db, seed.project, [_release_event("1.0", 30), _release_event("2.0", 20), other, _release_event(None, 5)])
    body = logged_in.get(api(seed, "seen_releases/")).json()["results"]
    assert [(r["version"], r["issues"], r["new_issues"], r["events"]) for r in body] == [
        ("2.0", 2, 1, 2),
        ("1.0", 1, 1, 1),
    ]
    page = logged_in.get(f"/project/{seed.project.id}/releases").text
    rows = re.findall(
        r'<tr data-release="([^"]+)">.*?data-label="Issues">(\d+)</td><td class="num" data-label="New issues">(\d+)<',
        page,
        re.S,
    )
    assert rows == [("2.0", "2", "1"), ("1.0", "1", "1")]
    assert f'href="/project/{seed.project.id}/issues?release=2.0&amp;status=all"' in page


def test_merge_folds_and_split_rederives_release_tags(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    a = ingest(db, seed.project, [_release_event("1.0", 30)])[0]
    b = ingest(
        db,
        seed.project,
        [exception_event("KeyError", "x", frames=[python_frame("k", 1)], properties={"$app_version": "2.0"})],
    )[0]
    csrf = csrf_from(logged_in.get(page_url(seed, a.issue_id)).text)
    logged_in.post(f"{page_url(seed, a.issue_id)}/merge", data={"csrf_token": csrf, "ids": str(b.issue_id)})
    with db.read() as session:
        rows = session.execute(sa.select(IssueTag.issue_id, IssueTag.value).where(IssueTag.key == "release")).all()
    assert sorted((str(i), v) for i, v in rows) == [(str(a.issue_id), "1.0"), (str(a.issue_id), "2.0")]
    csrf = csrf_from(logged_in.get(page_url(seed, a.issue_id)).text)
    logged_in.post(f"{page_url(seed, a.issue_id)}/split", data={"csrf_token": csrf, "fingerprints": b.fingerprint})
    with db.read() as session:
        rows = session.execute(sa.select(IssueTag.issue_id, IssueTag.value).where(IssueTag.key == "release")).all()
    by_value = {v: i for i, v in rows}
    assert set(by_value) == {"1.0", "2.0"} and by_value["1.0"] == a.issue_id and by_value["2.0"] != a.issue_id


# -- breakdowns ---------------------------------------------------------------------------------------------------


def test_breakdowns_by_browser_os_url_environment_sdk_and_users(
    logged_in: TestClient, seed: Tenant, db: Database
) -> None:
    def event(browser: str, user: str, minutes: int) -> dict[str, Any]:
        return _release_event(
            "3.1",
            minutes,
            **{
                "$browser": browser,
                "$browser_version": 120,
                "$os": "Mac OS X",
                "$current_url": f"https://shop.test/cart?id={minutes}#top",
                "$environment": "production",
            },
        ) | {"distinct_id": user}

    outcomes = ingest(
        db,
        seed.project,
        [event("Chrome", "u1", 9), event("Chrome", "u1", 8), event("Chrome", "u2", 7), event("Firefox", "u3", 6)],
    )
    issue_id = outcomes[0].issue_id
    body = logged_in.get(api(seed, f"issues/{issue_id}/breakdowns/")).json()
    dims = {d["key"]: d for d in body["dimensions"]}
    assert body["sample"] == 4 and body["sample_limit"] == 500
    assert [(v["value"], v["count"], v["share"]) for v in dims["browser"]["values"]] == [
        ("Chrome 120", 3, 0.75),
        ("Firefox 120", 1, 0.25),
    ]
    assert dims["url"]["values"][0]["value"] == "https://shop.test/cart" and dims["url"]["values"][0]["count"] == 4
    assert dims["release"]["exact"] and dims["release"]["values"][0]["value"] == "3.1"
    assert dims["environment"]["values"][0]["value"] == "production"
    assert dims["library"]["values"][0]["value"] == "posthog-python 7.91.1"
    assert body["users"]["total"] == 3 and body["users"]["top"][0] == {
        "value": "u1",
        "other": False,
        "count": 2,
        "share": 0.5,
    }
    page = logged_in.get(page_url(seed, issue_id)).text
    assert '<span class="bar-label" title="Chrome 120">Chrome 120</span><span class="bar-pct">75%</span>' in page
    assert 'Affected users <span class="muted small">3 in all</span>' in page
    # Another project's issue is a 404 in the API.
    assert logged_in.get(api(seed, f"issues/{uuid.uuid4()}/breakdowns/")).status_code == 404


# -- comments -----------------------------------------------------------------------------------------------------


def test_comments_in_the_activity_from_the_page_and_the_api(
    logged_in: TestClient, seed: Tenant, python_issue: Any
) -> None:
    url = page_url(seed, python_issue.issue_id)
    token = csrf_from(logged_in.get(url).text)
    response = logged_in.post(
        f"{url}/comment", data={"csrf_token": token, "content": "Seen <b>after</b> deploy 42"}, follow_redirects=False
    )
    assert response.status_code == 303
    page = logged_in.get(url).text
    assert '<blockquote class="comment">Seen &lt;b&gt;after&lt;/b&gt; deploy 42</blockquote>' in page
    assert "<strong>You</strong> commented" in page
    # Blank and over-long comments are refused next to the field.
    blank = logged_in.post(f"{url}/comment", data={"csrf_token": token, "content": "   "})
    assert blank.status_code == 400 and 'id="err-comment"' in blank.text
    too_long = logged_in.post(f"{url}/comment", data={"csrf_token": token, "content": "x" * 5001})
    assert too_long.status_code == 400 and "no more than 5000 characters" in too_long.text

    comments_url = api(seed, f"issues/{python_issue.issue_id}/comments/")
    created = logged_in.post(comments_url, json={"content": "from the API"}, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.text
    assert created.json()["content"] == "from the API" and created.json()["user_id"] == seed.user.id
    listed = logged_in.get(comments_url).json()["results"]
    assert [c["content"] for c in listed] == ["from the API", "Seen <b>after</b> deploy 42"]
    activity = logged_in.get(api(seed, f"issues/{python_issue.issue_id}/activity/")).json()["results"]
    assert activity[0]["activity"] == "commented" and activity[0]["detail"]["comment"] == "from the API"
    bad = logged_in.post(comments_url, json={"content": ""}, headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and bad.json()["attr"] == "content"
    missing = logged_in.post(
        api(seed, f"issues/{uuid.uuid4()}/comments/"), json={"content": "x"}, headers={"X-CSRFToken": token}
    )
    assert missing.status_code == 404


def test_skip_link_and_shortcut_help_on_every_page(logged_in: TestClient, seed: Tenant) -> None:
    page = logged_in.get(f"/project/{seed.project.id}/issues").text
    assert page.index('<a class="skip-link" href="#main">Skip to content</a>') < page.index('<header class="topbar">')
    assert '<main id="main" tabindex="-1">' in page
    assert '<dialog id="shortcuts" aria-labelledby="shortcuts-title">' in page
    assert "<dt><kbd>j</kbd> / <kbd>k</kbd></dt>" in page
