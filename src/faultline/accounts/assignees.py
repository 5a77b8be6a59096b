"""The assignee `{"type": "user" | "role", "id": …}` that issue assignment (single and bulk) and grouping/assignment
rules accept: one request model, one id parser and one organization-membership check for all of them.

User ids are integers (numeric strings accepted), role ids UUIDs. PostHog words the id errors differently on the
issue endpoints (spec §2.1: "Provide a numeric user ID.") and on the rule endpoints (§2.7: "User assignee IDs must
be integers."), and clients match on those messages, so the wording is a parameter of the model — the only thing
that differs. Everything else is shared: the type choice, null handling, which ids parse, the `attr` values
(`assignee__type`, `assignee__id`) and "Assignee user/role does not belong to this organization." for ids that
parse but name nobody in the project's organization (ids outside the database's integer range included).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy.orm import Session

from faultline.accounts import service as accounts
from faultline.http.errors import FieldError
from faultline.protocol.seams import Assignee

TYPES = ("user", "role")
MAX_USER_ID = 2**31 - 1
MAX_ID_LENGTH = 64


def assignee_json(user_id: int | None, role_id: uuid.UUID | None) -> dict[str, Any] | None:
    """PostHog's assignee representation (`AssigneeOut`): user ids are integers, role ids UUID strings."""
    if user_id is not None:
        return {"id": user_id, "type": "user"}
    if role_id is not None:
        return {"id": str(role_id), "type": "role"}
    return None


class AssigneeOut(BaseModel):
    """An issue's or a rule's assignee as every endpoint answers it."""

    id: int | uuid.UUID = Field(description="Integer user id, or role UUID.")
    type: Literal["user", "role"]


@dataclass(frozen=True)
class Wording:
    """The id error messages of one family of endpoints."""

    malformed: str  # neither an integer nor a string (booleans, floats, lists…)
    user_id: str  # type "user", id not an integer
    role_id: str  # type "role", id not a UUID
    # The issue endpoints blame the type's expectation for any string that is not an id ("Provide a numeric user
    # ID."); the rule endpoints report such strings as malformed.
    unparsable_string_is_malformed: bool


ISSUE_WORDING = Wording(
    malformed="Expected a user ID or role UUID.",
    user_id="Provide a numeric user ID.",
    role_id="Provide a valid role UUID.",
    unparsable_string_is_malformed=False,
)
RULE_WORDING = Wording(
    malformed="Expected an integer user ID or UUID role ID.",
    user_id="User assignee IDs must be integers.",
    role_id="Role assignee IDs must be UUIDs.",
    unparsable_string_is_malformed=True,
)


def _not_null(value: Any) -> Any:
    if value is None:
        raise FieldError("This field may not be null.", code="null")
    return value


def parse_type(value: Any) -> str:
    _not_null(value)
    if not isinstance(value, str) or value not in TYPES:
        raise FieldError(f'"{value}" is not a valid choice.', code="invalid_choice")
    return value


def parse_id(kind: str | None, value: Any, wording: Wording) -> int | uuid.UUID:
    """An integer (JSON number or digit string) or a UUID string, checked against the declared type."""
    _not_null(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldError(wording.malformed)
    parsed: int | uuid.UUID | None = value if isinstance(value, int) else None
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        if value.isascii() and value.isdigit():
            parsed = int(value)
        else:
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                parsed = None
    if parsed is None and wording.unparsable_string_is_malformed:
        raise FieldError(wording.malformed)
    if kind == "user" and not isinstance(parsed, int):
        raise FieldError(wording.user_id)
    if kind == "role" and not isinstance(parsed, uuid.UUID):
        raise FieldError(wording.role_id)
    if parsed is None:  # no valid type to judge it by: the type's own error is reported already
        raise FieldError(wording.malformed)
    return parsed


def membership_error(session: Session, organization_id: uuid.UUID, assignee: Assignee) -> str | None:
    """Why the assignee cannot be used in this organization, or None. (A message, not an exception: each domain
    raises its own error type with it.)"""
    if assignee.type == "user":
        user_id = assignee.id
        # Ids outside the column's range cannot exist (and would overflow the driver).
        if not (isinstance(user_id, int) and 0 < user_id <= MAX_USER_ID) or (
            accounts.organization_user(session, organization_id, user_id) is None
        ):
            return "Assignee user does not belong to this organization."
        return None
    role_id = assignee.id
    if not isinstance(role_id, uuid.UUID) or accounts.organization_role(session, organization_id, role_id) is None:
        return "Assignee role does not belong to this organization."
    return None


class AssigneeIn(BaseModel):
    """Request model; subclasses pick their endpoints' `wording`."""

    model_config = ConfigDict(extra="ignore")
    wording: ClassVar[Wording] = RULE_WORDING

    # `type` is declared first so the id validator can see it (DRF validates the pair together).
    type: Any = Field(..., description="`user` or `role`.", json_schema_extra={"enum": list(TYPES)})
    id: Any = Field(
        ...,
        description="User id (integer) when type is `user`, role UUID when type is `role`.",
        json_schema_extra={"oneOf": [{"type": "integer"}, {"type": "string", "format": "uuid"}]},
    )

    @field_validator("type")
    @classmethod
    def _type(cls, value: Any) -> str:
        return parse_type(value)

    @field_validator("id")
    @classmethod
    def _id(cls, value: Any, info: ValidationInfo) -> int | uuid.UUID:
        return parse_id(info.data.get("type"), value, cls.wording)

    def to_assignee(self) -> Assignee:
        return Assignee(type=self.type, id=self.id)
