"""Who issues can be assigned to: the organization's members and roles, as picker options and badge labels.

Assignees travel through forms as one string — `user:<id>` or `role:<uuid>` — the same spelling the issue list's
`assignee` filter uses (`faultline.issues.filters.parse_assignee`), so one select box serves both.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from faultline.accounts import service as accounts
from faultline.ids import parse_serial_id


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Directory:
    users: list[Option]
    roles: list[Option]
    viewer_id: int

    @classmethod
    def load(cls, session: Session, organization_id: uuid.UUID, viewer_id: int) -> Directory:
        members = accounts.organization_members(session, organization_id)
        roles = accounts.organization_roles(session, organization_id)
        return cls(
            users=[Option(f"user:{u.id}", _person(u.first_name, u.last_name, u.email)) for u in members],
            roles=[Option(f"role:{r.id}", r.name) for r in roles],
            viewer_id=viewer_id,
        )

    def label(self, assignee: Mapping[str, Any] | None) -> str | None:
        """ "Ada Lovelace", "you", "role Backend"… for an assignee dict (`{"type", "id"}`) or None."""
        if not assignee:
            return None
        value = value_of(assignee)
        if assignee.get("type") == "user" and assignee.get("id") == self.viewer_id:
            return "you"
        for option in self.users + self.roles:
            if option.value == value:
                return option.label if option in self.users else f"{option.label} (role)"
        return "former member" if assignee.get("type") == "user" else "deleted role"


def value_of(assignee: Mapping[str, Any] | None) -> str:
    if not assignee:
        return ""
    return f"{assignee.get('type')}:{assignee.get('id')}"


def _person(first: str, last: str, email: str) -> str:
    name = " ".join(part for part in (first, last) if part)
    return name or email


def parse_assignee(raw: str) -> tuple[str, int | uuid.UUID] | None:
    """`user:<id>` / `role:<uuid>` → (type, id); anything else → None (callers report it)."""
    kind, _, rest = raw.partition(":")
    user_id = parse_serial_id(rest) if kind == "user" else None
    if user_id is not None:
        return "user", user_id
    if kind == "role":
        try:
            return "role", uuid.UUID(rest)
        except ValueError:
            return None
    return None
