"""Whatever people type in the search box is text: FTS5 operators (`AND`, `NEAR`, `*`, `-`, `^`, column filters),
LIKE wildcards (`%`, `_`), quotes and terms too short for trigrams never error and match exactly what a substring
test of the right columns matches — for plain terms and `file:` / `function:` terms (an FTS5 column filter on
SQLite since migration 0014, a per-column trigram index on PostgreSQL), on both paths of the list (few matches:
one pass; many: count from the index, page by a LIKE walk)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.db import Database
from faultline.issues import queries
from faultline.issues.filters import parse_search
from faultline.issues.models import Issue
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.factories import create_issue

# (name, description, frame function names, frame file names): operators and wildcards in every column.
ISSUES = [
    ("TypeError", "rate 50%_off AND more", "apply_discount\nNEAR_zero", "shop/price%s.py\nlib/a_b.py"),
    ("ValueError", 'say "hi" NEAR the gate', "say_hi\nhandle*star", "app/-dash.py\napp/{sources}.py"),
    ("KeyError", "a*b -x ^caret (paren)", "fn:colon\nsources : trick", "src/AND/or.py\nsrc/not.py"),
    ("RangeError", "plain message", "render", "app/views.py"),
    ("OSError", "50% done", None, None),
]
SEARCHES = [
    "AND",
    "and more",
    "NEAR",
    "NEAR(say gate)",
    '"NEAR the"',
    "a*b",
    "*",
    "-x",
    "-",
    "^caret",
    "(paren",
    "OR",
    "NOT",
    '"',
    '""',
    '"AND"',
    "%",
    "_",
    "50%",
    "50%_",
    "%_off",
    "rate 50%_off",
    "file:%",
    "file:_",
    "file:a_b",
    "file:{sources}",
    "file:py",
    "file:-dash",
    "file:AND",
    'file:"price%s"',
    "function:*",
    "function:handle*star",
    "function:NEAR",
    'function:"sources : trick"',
    "function:fn:colon",
    "fn:say",
    "function:hi",
    "sources:trick",
    "body:plain",
    "{sources}:app",
    "function:render plain",
    "function:render views",
    "file:views.py function:render",
    "file:views.py function:apply",
]


def _issues(db: Database, project_id: int) -> None:
    with db.write() as session:
        for name, description, functions, sources in ISSUES:
            built = create_issue(session, project_id, name=name, description=description)
            # Written after the insert, as a merge or split rewrites them: the text-change trigger must follow.
            session.execute(
                sa.update(Issue)
                .where(Issue.id == built.id)
                .values(exception_functions=functions, exception_sources=sources)
            )


def _expected(search: str) -> list[str]:
    """Substring semantics spelled out (the data is ASCII, so both databases fold case the same way)."""
    parts = parse_search(search)
    found = []
    for name, description, functions, sources in ISSUES:
        anywhere = [name, description, name, description, functions, sources]
        columns = {"any": anywhere, "function": [functions], "file": [sources]}
        if parts.properties:
            continue  # an event-property term: these issues have no events
        if all(any(t.text.lower() in (c or "").lower() for c in columns[t.field]) for t in parts.terms):
            found.append(description)
    return sorted(found)


def _check(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tag filter values no stored tag can hold (PostgreSQL refuses NUL in a parameter; CI's schemathesis found it).
    for tag in ("release", "environment", "level"):
        for value in ("\x00", "prod\x00,staging"):
            response = api.get("issues/", params={tag: value, "status": "all"})
            assert response.status_code == 200, (tag, value, response.text)
            assert response.json()["count"] == 0
    for probe in (queries.SEARCH_PROBE, 1):
        monkeypatch.setattr(queries, "SEARCH_PROBE", probe)
        for search in SEARCHES:
            response = api.get("issues/", params={"search": search, "status": "all", "limit": 50})
            assert response.status_code == 200, (search, response.text)
            body = response.json()
            names = sorted(item["description"] for item in body["results"])
            assert (body["count"], names) == (len(names), _expected(search)), (search, probe)


def test_typed_text_is_literal_sqlite(api: Api, db: Database, seed: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    _issues(db, seed.project.id)
    # The reference itself must find something for most searches, or the comparison proves little.
    assert sum(bool(_expected(search)) for search in SEARCHES) > len(SEARCHES) // 2
    _check(api, monkeypatch)


@pytest.mark.postgres
def test_typed_text_is_literal_postgres(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        db = app.state.db
        tenant = make_tenant(db, email="pg-literals@acme.test")
        _issues(db, tenant.project.id)
        _check(Api(client, tenant), monkeypatch)
