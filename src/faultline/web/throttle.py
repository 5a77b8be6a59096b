"""Login rate limiting: failures are counted per e-mail and per client address over a sliding window.

Counting per e-mail stops password guessing against one account from many addresses; counting per address stops one
client from spraying many accounts. The check runs before the password hash is verified, so a flood of attempts
costs a count query each, not an argon2 computation each. Rows live in the database so every server process of a
scale-out deployment enforces the same budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import utcnow
from faultline.web.models import LoginAttempt

WINDOW = dt.timedelta(minutes=15)
MAX_PER_EMAIL = 5
MAX_PER_ADDRESS = 20


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0


def _keys(email: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(f"email:{email.strip().lower()[:250]}", MAX_PER_EMAIL)]
    if address:
        keys.append((f"ip:{address[:250]}", MAX_PER_ADDRESS))
    return keys


def check(session: Session, email: str, address: str | None) -> Verdict:
    """Whether another attempt may be made now; if not, when the oldest counted failure leaves the window."""
    since = utcnow() - WINDOW
    wait = 0
    for key, limit in _keys(email, address):
        rows = session.execute(
            sa.select(LoginAttempt.created_at)
            .where(LoginAttempt.key == key, LoginAttempt.created_at > since)
            .order_by(LoginAttempt.created_at.desc())
            .limit(limit)
        ).scalars()
        recent = list(rows)
        if len(recent) >= limit:
            oldest = recent[-1]
            wait = max(wait, int((oldest + WINDOW - utcnow()).total_seconds()) + 1)
    return Verdict(allowed=wait == 0, retry_after_seconds=wait)


def record_failure(session: Session, email: str, address: str | None) -> None:
    now = utcnow()
    session.execute(
        sa.insert(LoginAttempt.__table__), [{"key": key, "created_at": now} for key, _ in _keys(email, address)]
    )
    # Keep the table small: failures older than the window never count again.
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.created_at <= now - WINDOW))


def clear(session: Session, email: str) -> None:
    """A successful login forgives that account's failures (not the address's: a sprayer may guess one right)."""
    key = _keys(email, None)[0][0]
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key == key))
