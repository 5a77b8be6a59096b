"""Migrations run unchanged on SQLite and the machine's real PostgreSQL and produce exactly the models' schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import faultline.models
from faultline import migrate
from faultline.db import create_db_engine

# The issue-list search index (migration 0009) is raw DDL, not models, because it depends on the database: on
# SQLite the FTS5 table, its shadow tables (issue_search_data, _idx, _content, _docsize, _config) and its row map; on
# PostgreSQL GIN trigram indexes (the document's, and the frame columns' of migration 0014) that exist only where
# pg_trgm could be created.
SEARCH_INDEX_TABLES = re.compile(r"^issue_search(_rows|_data|_idx|_content|_docsize|_config)?$")
SEARCH_INDEXES = frozenset({"ix_issues_search_trgm", "ix_issues_functions_trgm", "ix_issues_sources_trgm"})
# PostgreSQL-only list-order indexes (migration 0014): NULLS LAST in an index is not SQLite syntax, so not models.
ORDER_INDEXES = frozenset({"ix_issues_project_last_seen_order", "ix_issues_project_status_last_seen_order"})


def _not_search_index(name: str | None, type_: str, _parent: object) -> bool:
    if type_ == "table" and name is not None and SEARCH_INDEX_TABLES.match(name):
        return False
    if type_ == "column" and name == "search_text":
        return False  # PostgreSQL's generated, lowercased search document (migration 0014)
    return not (type_ == "index" and name in SEARCH_INDEXES | ORDER_INDEXES)


# PostgreSQL's events are partitioned by day (migration 0015): its idempotency key is (uuid, project_id, timestamp),
# so the models' (project_id, uuid) key is SQLite's only; the keys themselves are checked in
# test_postgres_constraints_are_real.
EVENTS_PARTITION = re.compile(r"^events_(p\d{8}|default)$")
PG_EVENTS_KEYS = frozenset({"uq_events_project_id_uuid", "uq_events_uuid_project_id_timestamp"})


def _schema_drift(engine: sa.Engine) -> list[object]:
    postgres = engine.dialect.name == "postgresql"

    def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        if postgres and type_ == "table" and name is not None and EVENTS_PARTITION.match(name):
            return False  # made and dropped by retention; what they hold is `events`'
        return not (postgres and type_ == "unique_constraint" and name in PG_EVENTS_KEYS)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "include_name": _not_search_index, "include_object": include_object},
        )
        return compare_metadata(context, faultline.models.metadata)


def _round_trip(url: str) -> None:
    engine = create_db_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.is_up_to_date(engine)
        assert _schema_drift(engine) == []
        tables = set(sa.inspect(engine).get_table_names())
        assert set(faultline.models.metadata.tables) <= tables

        migrate.downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert _schema_drift(engine) == []
        migrate.upgrade(engine)  # idempotent
    finally:
        engine.dispose()


def test_sqlite_round_trip(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.postgres
def test_postgres_round_trip(pg_url: str) -> None:
    _round_trip(pg_url)


@pytest.mark.postgres
def test_postgres_constraints_are_real(pg_url: str) -> None:
    """The unique keys the pipeline relies on for idempotency exist as real constraints on PostgreSQL."""
    engine = create_db_engine(pg_url)
    try:
        migrate.upgrade(engine)
        inspector = sa.inspect(engine)
        uniques = {
            table: {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
            for table in (
                "issue_fingerprints",
                "events",
                "stack_frames",
                "symbol_sets",
                "releases",
                "autocapture_controls",
                "issue_assignments",
            )
        }
        assert ("project_id", "fingerprint") in uniques["issue_fingerprints"]
        assert ("uuid", "project_id", "timestamp") in uniques["events"]  # partitioned by day (migration 0015)
        assert ("project_id", "raw_id", "part") in uniques["stack_frames"]
        assert ("project_id", "ref") in uniques["symbol_sets"]
        assert ("project_id", "hash_id") in uniques["releases"]
        assert ("project_id", "library") in uniques["autocapture_controls"]
        assert ("issue_id",) in uniques["issue_assignments"]
    finally:
        engine.dispose()


def test_every_migration_has_a_docstring_and_downgrade() -> None:
    versions = Path(migrate.MIGRATIONS_DIR, "versions").glob("*.py")
    for path in versions:
        text = path.read_text()
        assert text.lstrip().startswith('"""'), path
        assert "def downgrade" in text, path


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgres_serialise(pg_url: str) -> None:
    """Several servers starting at once must not race each other's CREATE TABLEs."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        engine = create_db_engine(pg_url)
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_db_engine(pg_url)
    assert migrate.is_up_to_date(engine)
    engine.dispose()
