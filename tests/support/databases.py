"""Real PostgreSQL for tests: a fresh database per test session or test, dropped afterwards.

If the server is down we try the start command this machine documents; if that fails too, the tests that need it
skip with a loud reason (never a silent pass).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest

PG_ADMIN_DSN = os.environ.get("FAULTLINE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _can_connect() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def ensure_postgres() -> str | None:
    """None when PostgreSQL is usable, else the reason it is not."""
    if _can_connect():
        return None
    try:
        subprocess.run(PG_START, shell=True, check=False, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"PostgreSQL is down and could not be started: {exc}"
    if _can_connect():
        return None
    return f"PostgreSQL at {PG_ADMIN_DSN} is down and `{PG_START}` did not bring it up"


def _admin_url_for(name: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_postgres_database(prefix: str = "faultline_test") -> Iterator[str]:
    """Create an empty database and yield its SQLAlchemy URL; drop it (terminating stragglers) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _admin_url_for(name).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def database_env(backend: str, stack: ExitStack) -> dict[str, str]:
    """FAULTLINE_* settings for a test parametrised over `["sqlite", "postgresql"]`: nothing for SQLite (the data
    dir's file), a fresh PostgreSQL database (dropped when `stack` closes) otherwise; skips loudly without one."""
    if backend == "sqlite":
        return {}
    reason = ensure_postgres()
    if reason:
        pytest.skip(f"POSTGRES UNAVAILABLE — {reason}")
    return {"FAULTLINE_DATABASE_URL": stack.enter_context(fresh_postgres_database())}
