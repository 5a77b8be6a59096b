"""Browser sessions: create on login, look up per request, end on logout.

The lookup runs on every UI request, so it is one primary-key read; `last_seen_at` is only rewritten once per
`TOUCH_INTERVAL` so browsing does not turn every page view into a database write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import User
from faultline.db import utcnow
from faultline.web.models import WebSession

COOKIE_NAME = "faultline_session"
# Idle sessions end after this long; an active one is extended on use, up to MAX_AGE from login.
IDLE_TIMEOUT = dt.timedelta(days=14)
MAX_AGE = dt.timedelta(days=30)
TOUCH_INTERVAL = dt.timedelta(minutes=5)
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class ActiveSession:
    """What the request needs to know about its session (no ORM object escapes the lookup)."""

    id: str
    user_id: int
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(session: Session, user_id: int, *, ip: str | None, user_agent: str | None) -> tuple[str, ActiveSession]:
    """Returns the cookie value (shown to the browser only) and the stored session."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = utcnow()
    row = WebSession(
        id=token_digest(token),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + IDLE_TIMEOUT,
        ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:300],
    )
    session.add(row)
    session.flush()
    return token, _active(row)


def _active(row: WebSession) -> ActiveSession:
    return ActiveSession(
        id=row.id, user_id=row.user_id, csrf_token=row.csrf_token, created_at=row.created_at, expires_at=row.expires_at
    )


def plausible_token(token: str) -> bool:
    """Cheap shape check so garbage cookies never reach the database."""
    return 20 <= len(token) <= 100 and token.isascii()


def lookup(session: Session, token: str) -> tuple[ActiveSession | None, bool]:
    """The live session for a cookie token, and whether its expiry should be extended (a write the caller does)."""
    if not plausible_token(token):
        return None, False
    row = session.execute(
        sa.select(WebSession)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id == token_digest(token), User.is_active.is_(True))
    ).scalar_one_or_none()
    if row is None:  # unknown, ended, or its user was deactivated
        return None, False
    now = utcnow()
    if row.expires_at <= now or row.created_at + MAX_AGE <= now:
        return None, False
    return _active(row), now - row.last_seen_at >= TOUCH_INTERVAL


def touch(session: Session, session_id: str) -> None:
    now = utcnow()
    row = session.get(WebSession, session_id)
    if row is None:
        return
    row.last_seen_at = now
    row.expires_at = min(now + IDLE_TIMEOUT, row.created_at + MAX_AGE)


def end(session: Session, session_id: str) -> None:
    session.execute(sa.delete(WebSession).where(WebSession.id == session_id))


def end_others(session: Session, user_id: int, keep_id: str) -> int:
    result = session.execute(sa.delete(WebSession).where(WebSession.user_id == user_id, WebSession.id != keep_id))
    return result.rowcount or 0


def end_all(session: Session, user_id: int) -> None:
    session.execute(sa.delete(WebSession).where(WebSession.user_id == user_id))


def list_for_user(session: Session, user_id: int) -> list[WebSession]:
    now = utcnow()
    return list(
        session.execute(
            sa.select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.expires_at > now)
            .order_by(WebSession.last_seen_at.desc())
        ).scalars()
    )


def purge_expired(session: Session) -> int:
    result = session.execute(sa.delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return result.rowcount or 0


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())
