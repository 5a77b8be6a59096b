"""A user's time zone: which IANA names are accepted, and setting it.

Only names the system's tz database knows (`zoneinfo.available_timezones()`) are stored, so rendering never meets
an unknown zone; "UTC" (or nothing) stores null, the default.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import User
from faultline.errors import ValidationFailed


class UnknownTimeZone(ValidationFailed, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown time zone “{name[:64]}”: pick one from the list.", attr="time_zone")


@lru_cache(maxsize=1)
def choices() -> tuple[str, ...]:
    """Every IANA zone name, sorted ("UTC" first)."""
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/")))
    return ("UTC", *names)


def set_time_zone(session: Session, user_id: int, name: str) -> str | None:
    name = (name or "").strip()
    if name in ("", "UTC"):
        stored = None
    elif name in choices():
        stored = name
    else:
        raise UnknownTimeZone(name)
    session.execute(sa.update(User).where(User.id == user_id).values(time_zone=stored))
    return stored
