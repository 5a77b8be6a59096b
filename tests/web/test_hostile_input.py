"""Hostile input against every UI page and form: never a 500, nothing stored changes unless the input was valid.

Bounded hypothesis runs (a few dozen examples per target) over query strings and form bodies built from nasty
text: NUL and lone surrogates (unstorable), huge and unicode values, `key:value` search terms, regex metacharacters,
JSON fragments, ids of the wrong shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultline.app import create_app
from faultline.db import Database
from tests.conftest import Tenant, make_settings, make_tenant
from tests.support.factories import create_issue
from tests.support.ingest import ingest, load_sample_events
from tests.web.conftest import csrf_from, login, post_rule

NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "\ud800",
            "a" * 5000,
            "$lib:web",
            '$browser:"Mobile Safari"',
            "key:*",
            "(((",
            "[1, 2",
            '{"type": "OR", "values": [[[]]]}',
            "user:-1",
            "role:not-a-uuid",
            "-1",
            "1e309",
            "NaN",
            "resolved",
            "all",
            str(uuid.uuid4()),
        ]
    ),
)
FIELDS = st.sampled_from(
    [
        "q",
        "status",
        "order",
        "assignee",
        "offset",
        "limit",
        "event",
        "merge_q",
        "days",
        "action",
        "ids",
        "severity",
        "name",
        "description",
        "fingerprints",
        "direction",
        "match",
        "key",
        "operator",
        "value",
        "editor",
        "filters_json",
        "sampling_rate",
        "sample_rate",
        "url_triggers",
        "url_blocklist",
        "event_triggers",
        "match_type",
        "flag_key",
        "next",
    ]
)
PAIRS = st.lists(st.tuples(FIELDS, NASTY), max_size=8)


class Site:
    def __init__(self, client: TestClient, tenant: Tenant, issue_id: uuid.UUID, rule_id: str) -> None:
        self.client = client
        self.tenant = tenant
        self.issue_id = issue_id
        self.rule_id = rule_id
        self.base = f"/project/{tenant.project.id}"
        self.csrf = csrf_from(client.get(f"{self.base}/issues").text)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    app = create_app(make_settings(tmp_path_factory.mktemp("hostile") / "data"))
    with TestClient(app) as client:
        db: Database = app.state.db
        tenant = make_tenant(db, email="fuzz@acme.test")
        [outcome] = ingest(db, tenant.project, load_sample_events("posthog_python_exception.json"))
        with db.write() as session:
            create_issue(session, tenant.project.id, name="Other", fingerprints=["x1", "x2"])
        assert login(client, tenant.user.email).status_code == 303
        rule = post_rule(
            client,
            f"/project/{tenant.project.id}/rules/suppression",
            {
                "csrf_token": csrf_from(client.get(f"/project/{tenant.project.id}/issues").text),
                "key": "$lib",
                "operator": "exact",
                "value": "never-sent",
            },
        )
        assert rule.status_code == 303
        rule_id = client.get(f"/project/{tenant.project.id}/rules/suppression").text.split('data-rule-id="')[1][:36]
        assert outcome.issue_id is not None
        yield Site(client, tenant, outcome.issue_id, rule_id)


GET_PAGES = [
    "issues",
    "issues/{issue}",
    "rules/suppression",
    "rules/grouping/{rule}",
    "symbol-sets",
    "releases",
    "ingestion",
    "autocapture",
]
POST_FORMS = [
    "issues/bulk",
    "issues/{issue}/status",
    "issues/{issue}/severity",
    "issues/{issue}/rename",
    "issues/{issue}/assign",
    "issues/{issue}/merge",
    "issues/{issue}/split",
    "rules/suppression",
    "rules/grouping",
    "rules/assignment",
    "rules/suppression/{rule}",
    "rules/suppression/{rule}/move",
    "autocapture",
]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _path(site: Site, template: str) -> str:
    return f"{site.base}/" + template.format(issue=site.issue_id, rule=site.rule_id)


def _encode(pairs: list[tuple[str, str]]) -> str:
    """URL-encoded pairs, lone surrogates included (as the invalid UTF-8 a hostile client can send)."""
    return "&".join(
        f"{quote_from_bytes(k.encode())}={quote_from_bytes(v.encode('utf-8', 'surrogatepass'))}" for k, v in pairs
    )


@pytest.mark.parametrize("template", GET_PAGES)
@SETTINGS
@given(pairs=PAIRS)
def test_pages_survive_any_query_string(site: Site, template: str, pairs: list[tuple[str, str]]) -> None:
    response = site.client.get(_path(site, template) + "?" + _encode(pairs))
    assert response.status_code < 500, response.text[:500]


@pytest.mark.parametrize("template", POST_FORMS)
@SETTINGS
@given(pairs=PAIRS)
def test_forms_survive_any_body(site: Site, template: str, pairs: list[tuple[str, str]]) -> None:
    body = _encode([("csrf_token", site.csrf), *pairs])
    response = site.client.post(
        _path(site, template),
        content=body.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code < 500, response.text[:500]
    assert response.status_code != 403  # the CSRF token is valid: the input itself is what gets judged
    assert "text/html" in response.headers.get("content-type", "") or response.status_code == 303
