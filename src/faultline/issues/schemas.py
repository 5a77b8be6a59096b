"""Request and response models of the issues, fingerprints and activity endpoints (PostHog's wire shapes).

Validation messages follow PostHog's serializers (DRF), e.g. "Provide a numeric user ID." with attr
`assignee__id`; our error handler turns the pydantic errors raised here into `{"type","code","detail","attr"}`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.accounts import assignees
from faultline.accounts.assignees import AssigneeOut
from faultline.http.errors import FieldError

Status = Literal["active", "resolved", "suppressed"]
Severity = Literal["low", "medium", "high", "critical"]

NAME_MAX = 2_000
DESCRIPTION_MAX = 20_000
FINGERPRINT_MAX = 10_000
MAX_IDS = 1_000


# --- responses -----------------------------------------------------------------------------------------------------


class IssueAggregates(BaseModel):
    occurrences: int = Field(description="Events grouped into this issue.")
    users: int = Field(description="Distinct `distinct_id`s among those events.")
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    volume_24h: list[int] = Field(description="Events per UTC hour, 24 buckets, oldest first, ending now.")
    volume_14d: list[int] = Field(description="Events per UTC day, 14 buckets, oldest first, ending today.")


class IssueOut(BaseModel):
    id: uuid.UUID
    status: str
    severity: str | None
    name: str | None
    description: str | None
    culprit: str | None = Field(None, description="`function in file` of the frame the exception was raised in.")
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    created_at: dt.datetime
    state_updated_at: dt.datetime | None
    assignee: AssigneeOut | None
    external_issues: list[dict[str, Any]]
    cohort: dict[str, Any] | None
    aggregates: IssueAggregates


class IssueRedirect(BaseModel):
    issue_id: uuid.UUID = Field(description="Issue the requested fingerprint now belongs to.")


class Success(BaseModel):
    success: bool


class SplitOut(BaseModel):
    success: bool
    new_issue_ids: list[uuid.UUID]


class ExistsOut(BaseModel):
    exists: bool


class ValueOut(BaseModel):
    name: str


class ValuesOut(BaseModel):
    results: list[ValueOut]
    refreshing: bool


class ActivityUser(BaseModel):
    id: int | None = None
    first_name: str
    email: str | None
    is_system: bool


class ActivityEntry(BaseModel):
    id: uuid.UUID
    user: ActivityUser
    activity: str
    scope: str
    item_id: str
    detail: dict[str, Any]
    created_at: dt.datetime


class ActivityPage(BaseModel):
    results: list[ActivityEntry]
    next: str | None
    previous: str | None
    total_count: int


class EventOut(BaseModel):
    id: uuid.UUID = Field(description="The event uuid.")
    event: str
    distinct_id: str | None
    timestamp: dt.datetime
    received_at: dt.datetime
    issue_id: uuid.UUID
    fingerprint: str
    lib: str | None
    lib_version: str | None
    level: str | None
    properties: dict[str, Any]


class FingerprintOut(BaseModel):
    id: uuid.UUID
    fingerprint: str
    issue_id: uuid.UUID
    version: int = Field(description="Bumped each time the fingerprint moves to another issue (merge, split).")
    created_at: dt.datetime
    first_seen: dt.datetime | None


# --- requests ------------------------------------------------------------------------------------------------------


class IssueAssigneeIn(assignees.AssigneeIn):
    """PostHog's issue endpoints word id errors their own way ("Provide a numeric user ID.")."""

    wording: ClassVar[assignees.Wording] = assignees.ISSUE_WORDING


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignee: IssueAssigneeIn | None = Field(
        None, description="Assignment target. Set to null or omit to remove the current assignment."
    )


class IssueUpdateIn(BaseModel):
    """All fields optional; only those present are applied."""

    model_config = ConfigDict(extra="ignore")

    status: Status | None = Field(
        None, description="Issue status to set. Deprecated archived and pending_release values are rejected."
    )
    severity: Severity | None = Field(None, description="Severity, or null to remove it.")
    name: str | None = Field(None, max_length=NAME_MAX)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)

    @field_validator("status", mode="before")
    @classmethod
    def _status_not_null(cls, value: Any) -> Any:
        if value is None:
            raise FieldError("This field may not be null.", code="null")
        return value


def _non_empty(value: list[Any]) -> list[Any]:
    if not value:
        raise FieldError("This list may not be empty.", code="empty")
    return value


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ids: list[uuid.UUID] = Field(description="IDs of the issues to merge into this one.", max_length=MAX_IDS)

    _check = field_validator("ids")(_non_empty)


class SplitFingerprintIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fingerprint: str = Field(max_length=FINGERPRINT_MAX, description="Fingerprint to split into a new issue.")
    name: str | None = Field(None, max_length=NAME_MAX)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)

    @field_validator("fingerprint")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise FieldError("This field may not be blank.", code="blank")
        return value


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fingerprints: list[SplitFingerprintIn] = Field(default_factory=list, max_length=MAX_IDS)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["set_status", "assign", "merge"] = Field(
        description="set_status (resolve/suppress/activate), assign (null assignee unassigns), or merge "
        "(into the first listed issue of this project)."
    )
    ids: list[Any] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description="Issue ids; unknown, malformed and other projects' ids are ignored.",
        json_schema_extra={"items": {"type": "string", "format": "uuid"}},
    )
    status: Any = Field(None, json_schema_extra={"enum": ["active", "resolved", "suppressed"]})
    assignee: IssueAssigneeIn | None = None


class CohortIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cohortId: Any = Field(None, json_schema_extra={"type": "integer"})
