"""FastAPI dependencies for the shared plumbing: settings, database sessions."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from faultline.config import Settings
from faultline.db import Database


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


# Use both as `READ_SESSION` / `WRITE_SESSION`: FastAPI runs the
# exit code of request-scoped yield dependencies *after* the response has been sent, which would commit writes after
# the client already saw a 2xx (and let a fast follow-up request read stale data). tests/http/test_dependencies.py
# enforces the function scope on every route.


def read_session(request: Request) -> Iterator[Session]:
    """A session for GET endpoints: deferred transactions, never blocks on the digest writer."""
    with get_db(request).read() as session:
        yield session


def write_session(request: Request) -> Iterator[Session]:
    """A session that commits after the endpoint returns (before the response is sent) or rolls back on error."""
    with get_db(request).write() as session:
        yield session


READ_SESSION = Depends(read_session, scope="function")
WRITE_SESSION = Depends(write_session, scope="function")
