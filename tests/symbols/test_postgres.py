"""The PostgreSQL paths that differ from SQLite: JSONB search on release metadata, JSON filters on jobs,
ILIKE escaping and the resolver's INSERT … ON CONFLICT for negative rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.symbols.models import SymbolSet
from faultline.symbols.runtime import runtime_for
from tests.conftest import make_settings, make_tenant
from tests.symbols.support import CHUNK_ID, resolve_batch, sample_blob, sample_frames, sha512
from tests.symbols.test_api import base, make_release, upload

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(tmp_path: Path, pg_url: str) -> Iterator:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        app.state.test_client = client
        yield app
    app.state.db.dispose()


def test_symbol_sets_on_postgres(pg_app) -> None:
    client = pg_app.state.test_client
    db = pg_app.state.db
    assert db.dialect == "postgresql"
    tenant = make_tenant(db, email="pg@acme.test")
    release = make_release(db, tenant, "3.1.4", commit="c0ffee42")
    set_id = upload(client, tenant, CHUNK_ID, release_id=release)
    upload(client, tenant, "under_score%")

    def refs(query: str) -> list[str]:
        response = client.get(f"{base(tenant)}/{query}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [item["ref"] for item in response.json()["results"]]

    assert refs("?search=C0FFEE") == [CHUNK_ID]
    assert refs("?search=3.1") == [CHUNK_ID]
    assert refs("?search=_") == ["under_score%"]
    assert refs("?search=%25") == ["under_score%"]
    assert refs("?order_by=ref") == [CHUNK_ID, "under_score%"]
    # A NUL in `ref` or `search` matches nothing (schemathesis found `?ref=%00` answering 500 here).
    assert refs("?ref=%00") == refs("?search=C0%00") == refs(f"?ref={CHUNK_ID}%00") == []

    jobs = client.get(f"{base(tenant)}/repair_jobs/?symbol_set={set_id}", headers=tenant.headers).json()
    assert jobs["count"] == 1 and jobs["results"][0]["ref"] == CHUNK_ID
    # A filter that is no symbol-set id matches nothing; PostgreSQL never sees it (a NUL in text was a 500).
    for junk in ("%00", "not-a-uuid", set_id.upper() + "x"):
        response = client.get(f"{base(tenant)}/repair_jobs/?symbol_set={junk}", headers=tenant.headers)
        assert response.status_code == 200 and response.json()["count"] == 0, (junk, response.text)

    runtime = runtime_for(pg_app.state)
    frames = [
        sample_frames()[-1],
        {**sample_frames()[-1], "chunk_id": "pg-x"},
        {**sample_frames()[-2], "chunk_id": "pg-x"},
    ]
    [[resolved], [missing], [again]] = resolve_batch(db, runtime.resolver, tenant.project.id, frames)
    # A later batch finds the negative row the first one wrote.
    [[later]] = resolve_batch(db, runtime.resolver, tenant.project.id, frames[2:])
    assert resolved.contents["resolved_name"] == "validateCart"
    assert missing.contents["resolve_failure"].startswith("No sourcemap uploaded for chunk id: pg-x")
    assert again.symbol_set_id == missing.symbol_set_id == later.symbol_set_id
    with db.read() as session:
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.ref == CHUNK_ID))
    assert row.content_hash == sha512(sample_blob())


def test_late_upload_repair_on_postgres(pg_app) -> None:
    """The repair's JSONB-as-text prefilter, fingerprint re-pointing and aggregate rebuild on PostgreSQL."""
    from faultline.issues.models import Event, Issue, IssueFingerprint
    from faultline.pipeline.digest import Pipeline
    from faultline.pipeline.reprocess import RepairRunner
    from tests.support.ingest import ingest
    from tests.symbols.test_pipeline import js_event

    client, db = pg_app.state.test_client, pg_app.state.db
    tenant = make_tenant(db, email="pg-repair@acme.test")
    pipeline = Pipeline(db, symbols=pg_app.state.runtime.symbols.resolver)
    [early] = ingest(db, tenant.project, [js_event()], pipeline=pipeline)
    upload(client, tenant)
    [late] = ingest(db, tenant.project, [js_event()], pipeline=pipeline)
    assert late.issue_id != early.issue_id
    assert RepairRunner(db, runtime_for(pg_app.state), project_id=tenant.project.id).run_pending() == 1
    with db.read() as session:
        stored = session.scalar(sa.select(Event).where(Event.uuid == early.uuid))
        moved = session.scalar(sa.select(IssueFingerprint).where(IssueFingerprint.fingerprint == early.fingerprint))
        issue = session.get(Issue, late.issue_id)
        absorbed = session.get(Issue, early.issue_id)
    assert (stored.issue_id, stored.fingerprint) == (late.issue_id, late.fingerprint)
    assert (moved.issue_id, moved.version) == (late.issue_id, 1)
    assert (issue.occurrences, issue.users, absorbed) == (2, 1, None)
