"""Browser sessions and failed-login records for the web UI.

Sessions live in the database rather than in a signed cookie so that logging out (or "sign out everywhere") really
ends them: a copied cookie stops working the moment its row is gone. The cookie carries a random token; only its
SHA-256 is stored, so reading the table does not let anyone impersonate a user.

Login attempts are counted in rows too, so the login rate limit holds across every server process of a scale-out
deployment (one counter row per e-mail and per client address; see `faultline.web.throttle`).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, UTCDateTime, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"

    # SHA-256 hex of the cookie token.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Per-session secret echoed by every form (and the X-CSRFToken header for session-authenticated API writes).
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)


class LoginThrottle(Base):
    """Password checks reserved for one e-mail or client address in the current throttle window."""

    __tablename__ = "login_throttle"

    # "email:<address>" or "ip:<address>".
    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
