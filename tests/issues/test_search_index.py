"""The issue-search index (migration 0009) answers exactly what a per-column substring scan answers, after every
kind of write, on SQLite (FTS5 trigram + triggers) and PostgreSQL (pg_trgm GIN index, or a scan without it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from faultline import migrate
from faultline.app import create_app
from faultline.db import Database, create_db_engine, utcnow
from faultline.issues import queries, search
from faultline.issues.filters import AssigneeFilter, IssueQuery, TextTerm, parse_search, search_query
from faultline.issues.models import Issue
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.databases import PG_ADMIN_DSN
from tests.support.factories import create_issue

ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
TERMS = ["typeerror", "CANNOT", "ndefin", "undefined\nx", "ty", "x", "%", "50%_off", 'say "hi"', "ÄRGER", "ärger"]


def reference(session: sa.orm.Session, project_id: int, term: str) -> set[uuid.UUID]:
    """SQLite's LIKE semantics spelled out in Python: ASCII case folding, every word (or quoted phrase) of the
    search a substring of some one column."""
    parts = parse_search(term)
    if parts.properties or parts.users:
        # `key:value` and `user:` terms match issues through their events, and these issues have none.
        return set()
    needles = [(t.text.translate(ASCII_LOWER), t.field) for t in parts.terms]
    found = set()
    rows = session.execute(
        sa.select(
            Issue.id,
            Issue.name,
            Issue.description,
            Issue.exception_types,
            Issue.exception_values,
            Issue.exception_functions,
            Issue.exception_sources,
        ).where(Issue.project_id == project_id)
    )
    for issue_id, *columns in rows:
        texts = [column.translate(ASCII_LOWER) if column is not None else None for column in columns]
        by_field = {"any": texts, "function": [texts[4]], "file": [texts[5]]}
        # A search with nothing to look for (only quotes that close nothing, which are ignored) filters nothing.
        if all(any(text is not None and needle in text for text in by_field[field]) for needle, field in needles):
            found.add(issue_id)
    return found


def searched(session: sa.orm.Session, project_id: int, term: str, **filters: object) -> set[uuid.UUID]:
    total, page = queries.list_issues(
        session, project_id, search_query(term, **filters), limit=1000, offset=0, now=utcnow()
    )
    assert total == len(page)
    return {item["id"] for item in page}


def index_matches_issues(session: sa.orm.Session) -> None:
    """Every issue has exactly one row-map entry (same project and status) and FTS document (migration 0014's
    three columns: the text, the frames' functions, their files)."""
    rows = session.execute(
        sa.text(
            "SELECT i.id = r.issue_id, i.project_id = r.project_id, i.status = r.status, f.body = lower("
            "coalesce(i.name, '') || char(10) || coalesce(i.description, '') || char(10) || "
            "coalesce(i.exception_types, '') || char(10) || coalesce(i.exception_values, '')), "
            "f.functions = lower(coalesce(i.exception_functions, '')), "
            "f.sources = lower(coalesce(i.exception_sources, '')) "
            "FROM issues i LEFT JOIN issue_search_rows r ON r.issue_id = i.id "
            "LEFT JOIN issue_search f ON f.rowid = r.key"
        )
    ).all()
    assert rows and all(tuple(row) == (1, 1, 1, 1, 1, 1) for row in rows), rows
    counts = session.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM issues), (SELECT count(*) FROM issue_search_rows), "
            "(SELECT count(*) FROM issue_search)"
        )
    ).one()
    assert counts[0] == counts[1] == counts[2], counts


def test_index_follows_every_write(api: Api, make, db: Database, seed: Tenant, other_tenant: Tenant) -> None:
    pid = seed.project.id
    target = make(name="TypeError", description="Cannot read properties of undefined", fingerprints=["t1", "t2"])
    source = make(name="RangeError", description="50%_off is not a number", exception_types=["RangeError", "Äger"])
    quoted = make(name="Error", description='say "hi" to ÄRGER', status="resolved")
    make(project_id=other_tenant.project.id, name="TypeError", description="theirs, not ours")
    assert searched_api(api, "typeerror") == {str(target.id)}

    # Text edits, status changes, a merge (source deleted, its types combined into the target) and a split.
    assert api.patch(f"issues/{quoted.id}/", json={"name": "Renamed Widget", "status": "active"}).status_code == 200
    assert api.patch(f"issues/{target.id}/", json={"description": None}).status_code == 200
    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]}).json() == {"success": True}
    split = api.post(f"issues/{target.id}/split/", json={"fingerprints": [{"fingerprint": "t2", "name": "Split"}]})
    assert split.status_code == 200
    with db.write() as session:
        session.execute(sa.update(Issue).where(Issue.id == quoted.id).values(status="suppressed"))

    with db.read() as session:
        index_matches_issues(session)
        for term in [*TERMS, "renamed", "rangeerror", "split", "theirs", "äger"]:
            assert searched(session, pid, term) == reference(session, pid, term), term
        assert searched(session, pid, "widget", statuses=("suppressed",)) == {quoted.id}
        assert searched(session, pid, "widget", statuses=("active",)) == set()
        assert searched(session, pid, "rangeerror") == {target.id}  # the merged-in type
    # Issues deleted with their project leave the index too (ON DELETE CASCADE fires the delete trigger).
    with db.write() as session:
        session.execute(sa.delete(Issue).where(Issue.project_id == other_tenant.project.id))
    with db.read() as session:
        index_matches_issues(session)


def searched_api(api: Api, term: str) -> set[str]:
    body = api.get("issues/", params={"search": term, "limit": 1000}).json()
    return {item["id"] for item in body["results"]}


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.tuples(TEXT, st.none() | TEXT, st.none() | TEXT), min_size=1, max_size=6),
    picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(1, 8)), min_size=1, max_size=4),
    extra=st.lists(TEXT, max_size=2),
)
# A term that parses as an event-property filter (CI found `A:0`), a user term and the frame-field filters.
@example(texts=[("", None, None)], picks=[(0, 0, 1)], extra=["A:0", "user:x"])
@example(texts=[("fn file", "fn", None)], picks=[(0, 0, 2)], extra=["function:fn", "file:fil"])
def test_indexed_search_equals_the_scan(
    db: Database, seed: Tenant, texts: list[tuple[str, str | None, str | None]], picks: list, extra: list[str]
) -> None:
    """Random (Unicode, quotes, %, _, newlines) documents and terms cut out of them or made up."""
    pid = seed.project.id
    with db.write() as session:
        session.execute(sa.delete(Issue).where(Issue.project_id == pid))
        for name, description, value in texts:
            create_issue(session, pid, name=name, description=description, exception_values=[value] if value else [])
    terms = [t.strip() for t in extra]
    for index, start, length in picks:
        name = texts[index % len(texts)][0]
        terms.append(name[start : start + length].strip())
    with db.read() as session:
        index_matches_issues(session)
        for term in terms:
            if term:
                assert searched(session, pid, term) == reference(session, pid, term), (term, texts)


def test_big_result_pages_agree_with_the_count(api: Api, make, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SEARCH_PROBE matches the count comes from the index and pages from a LIKE walk: they must agree."""
    for n in range(12):
        make(name=f"KeyError {n}", description="lookup failed" if n % 2 else "Lookup FAILED in cache")
    make(name="ValueError", description="nothing to see")
    monkeypatch.setattr(queries, "SEARCH_PROBE", 3)
    pages = [api.get("issues/", params={"search": "LOOKUP failed", "limit": 5, "offset": o}).json() for o in (0, 5, 10)]
    assert [p["count"] for p in pages] == [12, 12, 12]
    ids = [item["id"] for p in pages for item in p["results"]]
    assert len(ids) == len(set(ids)) == 12


def test_migration_backfills_existing_issues_and_downgrades(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/m.db")
    try:
        # Whatever revision 0009 follows once branches are merged (its down_revision is re-chained then).
        before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0009").down_revision
        # An issue stored before the index existed: made with today's models at the head, then the schema taken
        # back below the index (the rows stay), so the upgrade has to backfill it.
        migrate.upgrade(engine)
        db = Database(f"sqlite:///{tmp_path}/m.db")
        tenant = make_tenant(db, email="old@acme.test")
        with db.write() as session:
            old = create_issue(session, tenant.project.id, name="LegacyError", description="from before the index")
        db.dispose()
        migrate.downgrade(engine, before)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'issue_search%'").all() == []
        migrate.upgrade(engine)
        with db.read() as session:
            index_matches_issues(session)
            assert searched(session, tenant.project.id, "legacy") == {old.id}
            triggers = set(session.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        assert {"issue_search_insert", "issue_search_text", "issue_search_status", "issue_search_delete"} <= triggers
        migrate.downgrade(engine, before)
        with engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'issue_search%'").all()
        assert left == []
        db.dispose()
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------------ PostgreSQL


@pytest.fixture
def pg(tmp_path: Path, pg_url: str) -> Iterator[tuple[Api, Database, Tenant]]:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="pg@acme.test")
        yield Api(client, tenant), app.state.db, tenant


def _plan(session: sa.orm.Session, stmt: sa.Select) -> str:
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    # Only a bitmap scan remains possible cheaply; if the WHERE expression does not match the index's, the planner
    # has to fall back to a (disabled, hence visible) sequential scan.
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    session.execute(sa.text("SET LOCAL enable_indexscan = off"))
    rows = session.connection().exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars()
    return "\n".join(rows)


@pytest.mark.postgres
def test_postgres_search_uses_the_trigram_index(pg: tuple[Api, Database, Tenant]) -> None:
    api, db, tenant = pg
    pid = tenant.project.id
    with db.write() as session:
        hit = create_issue(session, pid, name="TimeoutError", description="Gateway TIMEOUT after 30 s")
        create_issue(session, pid, name="Über", description="ärger with unicode", exception_types=["ÜberError"])
        for n in range(20):
            create_issue(session, pid, name=f"Noise {n}", description="nothing here")
        plan = _plan(session, sa.select(Issue.id).where(search.match_clause("postgresql", TextTerm("timeout"))))
    assert "ix_issues_search_trgm" in plan, plan
    assert searched_api(api, "timeout") == {str(hit.id)}
    assert searched_api(api, "ÜBERERROR") != set()  # ILIKE folds Unicode case on PostgreSQL
    assert searched_api(api, "ti") == {str(hit.id)}  # too short for trigrams: the per-column scan
    assert api.get("issues/", params={"search": "100%_"}).json()["count"] == 0


@pytest.mark.postgres
def test_postgres_without_pg_trgm_privileges_still_migrates_and_searches(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may not create extensions gets no index (a warning) and a scanning search, not a failed start;
    the statements the warning quotes, run later by a superuser, add the index the search then uses."""
    database = pg_url.rsplit("/", 1)[1]
    role = f"faultline_noext_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        admin.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    url = pg_url.replace("postgres@", f"{role}@", 1)
    try:
        app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=url))
        with TestClient(app) as client:
            db = app.state.db
            with db.read() as session:
                present = session.execute(
                    sa.text("SELECT count(*) FROM pg_indexes WHERE indexname = :n"), {"n": "ix_issues_search_trgm"}
                ).scalar_one()
            assert present == 0
            tenant = make_tenant(db, email="noext@acme.test")
            with db.write() as session:
                hit = create_issue(session, tenant.project.id, name="TimeoutError", description="slow")
            assert searched_api(Api(client, tenant), "TIMEOUT") == {str(hit.id)}
            db.dispose()
        # The newest migration that shapes the index says which statement to run (0009's, then 0007_i17's).
        warning = [r.getMessage() for r in caplog.records if "pg_trgm" in r.getMessage()][-1]
        statements = warning.split("in this database: ", 1)[1]
        with psycopg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as admin:
            admin.execute(statements.encode())
        admin_db = Database(pg_url)
        try:
            with admin_db.read() as session:
                plan = _plan(session, sa.select(Issue.id).where(search.match_clause("postgresql", TextTerm("timeout"))))
        finally:
            admin_db.dispose()
        assert "ix_issues_search_trgm" in plan, plan
    finally:
        with psycopg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_search_combined_with_other_filters(
    api: Api, make, db: Database, seed: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filters the index's row map does not carry (severity, assignee, dates) are applied through `issues`, on the
    probe path (few matches) and on the count-then-walk path (many) alike."""
    for n in range(10):
        make(name=f"TimeoutError {n}", severity="high" if n % 2 else None, status="resolved" if n % 3 else "active")
    make(name="Unrelated", severity="high")
    flagged = make(name="TimeoutError flagged", severity="high")
    api.patch(f"issues/{flagged.id}/assign/", json={"assignee": {"type": "user", "id": seed.user.id}})
    cases = [
        ({"severity": "high"}, 6),
        ({"severity": "high", "status": "resolved"}, 3),
        ({"assignee": "me"}, 1),
        ({"assignee": "unassigned", "severity": "high"}, 5),
        ({"first_seen_after": "-1d"}, 0),
    ]
    for probe in (1, queries.SEARCH_PROBE):
        monkeypatch.setattr(queries, "SEARCH_PROBE", probe)
        for params, expected in cases:
            body = api.get("issues/", params={"search": "TIMEOUT", "limit": 3, **params}).json()
            assert body["count"] == expected, (probe, params)
            assert len(body["results"]) == min(3, expected)


def test_the_index_is_read_once_per_search(make, db: Database, seed: Tenant) -> None:
    """The FTS table must be the outer loop: as an inner one SQLite would run the MATCH once per issue (a 6.5 s
    search of 730 matches on the bench data)."""
    for n in range(30):
        make(name=f"Error {n}", description="webhook queue stalled" if n % 3 else "fine", severity="high")
    queries_to_plan = [
        search_query("webhook queue"),
        search_query("webhook queue", statuses=("active",), severities=("high",)),
        search_query("webhook queue", assignee=AssigneeFilter(kind="unassigned")),
    ]
    with db.read() as session:
        session.execute(sa.text("ANALYZE"))
        for query in queries_to_plan:
            for stmt in (
                queries._probe("sqlite", seed.project.id, query, seed.user.id, True),
                sa.select(sa.func.count()).select_from(
                    search.sqlite_matches(parse_search("webhook queue").terms)
                    .where(search.search_rows.c.project_id == 1)
                    .subquery()
                ),
            ):
                sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
                plan = [row[3] for row in session.execute(sa.text("EXPLAIN QUERY PLAN " + sql))]
                assert plan[0].startswith("SCAN issue_search VIRTUAL TABLE"), plan
                assert not any("issue_search VIRTUAL TABLE INDEX 0:=" in step for step in plan), plan


@pytest.mark.postgres
def test_postgres_list_pages_walk_the_order_index(pg: tuple[Api, Database, Tenant]) -> None:
    """The list's default order (last seen, NULLs last, ties by id) is an index walk on PostgreSQL, with or without
    a status, either direction: without migration 0014's indexes every page sorted all the project's issues."""
    _api, db, tenant = pg
    pid = tenant.project.id
    cases = {
        "ix_issues_project_last_seen_order": [IssueQuery(), IssueQuery(descending=False)],
        "ix_issues_project_status_last_seen_order": [
            IssueQuery(statuses=("active",)),
            IssueQuery(statuses=("resolved",), descending=False),
        ],
    }
    with db.write() as session:
        for n in range(5):
            create_issue(session, pid, name=f"Error {n}", status="active" if n % 2 else "resolved")
    for index, list_queries in cases.items():
        for query in list_queries:
            stmt = (
                sa.select(Issue.id)
                .where(*queries.issue_conditions("postgresql", pid, query))
                .order_by(*queries._ordering("postgresql", query))
                .limit(100)
            )
            with db.read() as session:
                # Only a plan that yields the order without sorting is cheap now.
                session.execute(sa.text("SET LOCAL enable_seqscan = off"))
                session.execute(sa.text("SET LOCAL enable_sort = off"))
                compiled = stmt.compile(dialect=session.get_bind().dialect)
                rows = session.connection().exec_driver_sql("EXPLAIN " + compiled.string, compiled.params)
                plan = "\n".join(rows.scalars())
            assert index in plan and "Sort" not in plan, (query, plan)
