"""Login rate limiting: password checks are budgeted per e-mail and per client address over a window.

Counting per e-mail stops password guessing against one account from many addresses; counting per address stops one
client from spraying many accounts. The budget is taken *before* the password hash is verified, and taking it is
atomic: one `INSERT … ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1 WHERE attempts < limit RETURNING`
per key either reserves an attempt or returns nothing. On PostgreSQL the conflicting row stays locked until the
transaction ends, so concurrent logins for one e-mail queue behind each other; on SQLite the write transaction
(`BEGIN IMMEDIATE`) is the only writer. A check followed by a separate insert, as before, let 100 concurrent wrong
logins run 34 password checks against a limit of 5.

Both keys are reserved in one transaction, e-mail first (a fixed order, so two logins cannot wait on each other); if
either budget is spent the transaction rolls back and the refused attempt costs nothing. A window starts at the first
attempt and lasts `WINDOW`; a successful login forgives the account's attempts and gives back the address's one.
Rows live in the database so every server process of a scale-out deployment enforces the same budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import Database, insert_for, utcnow
from faultline.web.models import LoginThrottle

WINDOW = dt.timedelta(minutes=15)
MAX_PER_EMAIL = 5
MAX_PER_ADDRESS = 20
# Expired windows are deleted a batch at a time by the logins that pass by (skipping rows others hold locked).
PRUNE_BATCH = 500


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0


def email_key(email: str) -> str:
    return f"email:{email.strip().lower()[:250]}"


def address_key(address: str) -> str:
    return f"ip:{address[:250]}"


def _keys(email: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(email_key(email), MAX_PER_EMAIL)]
    if address:
        keys.append((address_key(address), MAX_PER_ADDRESS))
    return keys


class _Refused(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _take(session: Session, key: str, limit: int, now: dt.datetime) -> bool:
    """Reserve one attempt under `key`, or return False (and change nothing) when its budget is spent."""
    table = LoginThrottle.__table__
    expired = table.c.window_start <= now - WINDOW
    stmt = insert_for(session.get_bind().dialect.name, table).values(key=key, attempts=1, window_start=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "attempts": sa.case((expired, 1), else_=table.c.attempts + 1),
            "window_start": sa.case(
                (expired, sa.literal(now, type_=table.c.window_start.type)), else_=table.c.window_start
            ),
        },
        where=sa.or_(expired, table.c.attempts < limit),
    ).returning(table.c.attempts)
    return session.execute(stmt).first() is not None


def _prune(session: Session, now: dt.datetime) -> None:
    table = LoginThrottle.__table__
    stale = (
        sa.select(table.c.key)
        .where(table.c.window_start <= now - WINDOW)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(sa.delete(table).where(table.c.key.in_(stale)))


def reserve(db: Database, email: str, address: str | None) -> Verdict:
    """Count this login attempt against every budget it belongs to, atomically, or refuse it without counting."""
    now = utcnow()
    try:
        with db.write() as session:
            for key, limit in _keys(email, address):
                if not _take(session, key, limit, now):
                    raise _Refused(key)
            _prune(session, now)
    except _Refused as refused:
        with db.read() as session:
            started = session.execute(
                sa.select(LoginThrottle.window_start).where(LoginThrottle.key == refused.key)
            ).scalar_one_or_none()
        wait = (started or now) + WINDOW - utcnow()
        return Verdict(allowed=False, retry_after_seconds=max(1, int(wait.total_seconds()) + 1))
    return Verdict(allowed=True)


def succeeded(session: Session, email: str, address: str | None) -> None:
    """A successful login forgives that account's attempts and gives back the address's reservation (not all of
    the address's attempts: a sprayer may guess one account right)."""
    session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == email_key(email)))
    if address:
        session.execute(
            sa.update(LoginThrottle)
            .where(LoginThrottle.key == address_key(address), LoginThrottle.attempts > 0)
            .values(attempts=LoginThrottle.attempts - 1)
        )


def attempts(session: Session, email: str) -> int:
    """Attempts counted for an e-mail in its current window (for tests and diagnostics)."""
    row = session.execute(
        sa.select(LoginThrottle.attempts, LoginThrottle.window_start).where(LoginThrottle.key == email_key(email))
    ).first()
    if row is None or row.window_start <= utcnow() - WINDOW:
        return 0
    return row.attempts
