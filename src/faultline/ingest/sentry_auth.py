"""Who sent a Sentry request: the DSN public key from `X-Sentry-Auth`, `?sentry_key=` or the envelope header's
`dsn` (tunnels forward the browser's envelope without auth headers), checked against the project in the URL.

Several places may name a key; they must agree, because a proxy that adds its own key to a browser's envelope is a
configuration mistake whose events would otherwise land in whichever project won. Keys are cached like project
tokens: a hit costs a dict lookup; a key disabled in the UI stops working within `ttl_seconds`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from faultline.accounts import dsn as dsn_keys
from faultline.db import Database

MAX_KEY_LENGTH = 64


class AuthProblem(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where each candidate key came from (None when that place named none)."""

    header: str | None = None
    query: str | None = None
    dsn: str | None = None
    dsn_project: str | None = None


def parse_auth_header(value: str | None) -> str | None:
    """`Sentry sentry_key=abc, sentry_version=7, sentry_client=x/1` → "abc" (the legacy `sentry_secret` is ignored)."""
    if not value:
        return None
    text = value.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    for part in text.split(","):
        name, _, val = part.strip().partition("=")
        if name.strip() == "sentry_key":
            return val.strip() or None
    return None


def parse_dsn(value: object) -> tuple[str | None, str | None]:
    """(public key, project id) of a DSN string; (None, None) when it is not one."""
    if not isinstance(value, str) or len(value) > 2000:
        return None, None
    try:
        parts = urlsplit(value.strip())
        user = parts.username
    except ValueError:
        return None, None
    project = parts.path.rstrip("/").rsplit("/", 1)[-1] if parts.path else ""
    return user or None, project or None


def choose_key(creds: Credentials, path_project_id: int) -> str:
    """The one public key the request names; AuthProblem when none, or several different ones."""
    named = {
        place: key
        for place, key in (("X-Sentry-Auth", creds.header), ("sentry_key", creds.query), ("envelope dsn", creds.dsn))
        if key
    }
    if not named:
        raise AuthProblem(
            401,
            "missing_dsn_key",
            "No DSN public key: send `X-Sentry-Auth: Sentry sentry_key=<public key>`, `?sentry_key=` or a `dsn` in "
            "the envelope header. Copy the DSN from the project's settings in Faultline.",
        )
    if len(set(named.values())) > 1:
        listed = ", ".join(f"{place} says {key[:12]}…" for place, key in named.items())
        raise AuthProblem(
            401,
            "conflicting_dsn_keys",
            f"Conflicting DSN keys ({listed}): configure one DSN, and let a tunnel forward the envelope unchanged.",
        )
    if creds.dsn and creds.dsn_project is not None and creds.dsn_project != str(path_project_id):
        raise AuthProblem(
            401,
            "conflicting_project",
            f"The envelope's DSN names project {creds.dsn_project[:20]} but it was sent to /api/{path_project_id}/: "
            "send it to the project of its DSN.",
        )
    return next(iter(named.values()))


class DsnKeyCache:
    """Public key → (project id, enabled), with a TTL; unknown keys are cached briefly too."""

    def __init__(self, db: Database, *, ttl_seconds: float = 10.0, negative_ttl_seconds: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.negative_ttl = negative_ttl_seconds
        self._entries: dict[str, tuple[tuple[int, bool] | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> bool:
        hit = self._entries.get(key)
        return hit is not None and hit[1] > time.monotonic()

    def lookup(self, key: str) -> tuple[int, bool] | None:
        if len(key) > MAX_KEY_LENGTH:
            return None
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.db.read() as session:
            found = dsn_keys.lookup(session, key)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (found, now + (self.ttl if found is not None else self.negative_ttl))
        return found


def check_key(found: tuple[int, bool] | None, key: str, path_project_id: int) -> int:
    if found is None:
        raise AuthProblem(
            401,
            "invalid_dsn_key",
            f"Unknown DSN public key {key[:12]}…: copy the DSN from the project's settings in Faultline.",
        )
    project_id, enabled = found
    if project_id != path_project_id:
        raise AuthProblem(
            403,
            "wrong_project",
            f"DSN key {key[:12]}… belongs to project {project_id}, not {path_project_id}: the DSN must end in "
            f"/{project_id}.",
        )
    if not enabled:
        raise AuthProblem(
            403,
            "dsn_key_disabled",
            f"DSN key {key[:12]}… is disabled: enable it in the project's settings or use another DSN of the project.",
        )
    return project_id
