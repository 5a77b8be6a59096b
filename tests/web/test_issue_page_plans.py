"""Every query the issue page sends for one issue's events or fingerprints is answered from that issue's index,
on a database without statistics (SQLite never gathers them). With the project condition offered to the planner it
chose the project's index (0.5 s for the page at 100 k issues, bench/issue_page.py); `db.check_only` keeps that
condition as a check only."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant
from tests.support.factories import BASE_TIME, Ev, create_issue
from tests.support.ingest import ingest, load_sample_events

ISSUE_INDEXES = ("ix_events_issue_timestamp", "ix_issue_fingerprints_issue_id")
ISSUE_TERM = re.compile(r"\b(events|issue_fingerprints)\.issue_id (=|IN)")


def test_issue_page_reads_one_issue_through_its_index(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    [outcome] = ingest(db, seed.project, load_sample_events("posthog_python_exception.json"))
    with db.write() as session:  # other issues in the project, so its indexes are a real alternative
        for n in range(3):
            create_issue(session, seed.project.id, name=f"Other{n}", events=[Ev(BASE_TIME), Ev(BASE_TIME)])
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and ISSUE_TERM.search(statement):
            sent.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = logged_in.get(f"/project/{seed.project.id}/issues/{outcome.issue_id}")
        api = logged_in.get(f"/api/environments/{seed.project.id}/error_tracking/issues/{outcome.issue_id}/")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert (page.status_code, api.status_code) == (200, 200), api.text[:300]
    assert len(sent) >= 3, "the page no longer reads the issue's events the way this test expects"

    wrong: list[str] = []
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 0
        for statement, parameters in sent:
            plan = " / ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            for table in ("events", "issue_fingerprints"):
                reads = [step for step in plan.split(" / ") if re.search(rf"\b(SEARCH|SCAN) {table}\b", step)]
                if f"{table}.issue_id" in statement and not all(any(i in s for i in ISSUE_INDEXES) for s in reads):
                    wrong.append(f"{plan}  <=  {' '.join(statement.split())[:200]}")
    assert wrong == []
