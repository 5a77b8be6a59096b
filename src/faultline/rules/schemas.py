"""Request and response shapes of the rule endpoints, with PostHog's (DRF's) exact validation messages.

Request fields are typed `Any` and checked by validators because the messages and codes clients see must be the
DRF serializer's, not pydantic's ("Expected an object.", `"group" is not a valid choice.`…).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.accounts import assignees
from faultline.accounts.assignees import AssigneeOut
from faultline.http.errors import FieldError
from faultline.rules import filters as rule_filters

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_DESCRIPTION = 10_000
MAX_FILTERS_BYTES = 64 * 1024
DRF_MAX_STRING_LENGTH = 1000

FILTERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'PostHog PropertyGroupFilterValue: {"type": "AND"|"OR", "values": [filter or nested group]}.',
    "example": {
        "type": "AND",
        "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
    },
}


def _not_null(value: Any) -> Any:
    if value is None:
        raise FieldError("This field may not be null.", code="null")
    return value


def _too_big(value: Mapping[str, Any]) -> bool:
    try:
        return len(orjson.dumps(value)) > MAX_FILTERS_BYTES
    except TypeError:
        return True


def _structure(value: dict[str, Any]) -> None:
    """PostHog validates with its pydantic schema; we check the same shape (compile errors are reported later)."""
    if _too_big(value):
        raise FieldError("Invalid filters payload.")
    try:
        rule_filters.compile_filters(value)
    except rule_filters.FilterError as exc:
        if exc.kind == "payload":
            raise FieldError("Invalid filters payload.") from None
    except RecursionError:
        raise FieldError("Invalid filters payload.") from None


def suppression_filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError("Expected an object.")
    if rule_filters.has_filter_values(value):
        _structure(value)
        return value
    if "values" not in value:
        raise FieldError("Invalid filters")
    if not isinstance(value["values"], list):
        raise FieldError("Invalid filters payload.")
    # No real condition: a match-all rule. Store a well-formed group even if the type was omitted.
    group_type = value.get("type") if value.get("type") in rule_filters.GROUP_TYPES else "AND"
    normalized = {"type": group_type, "values": value["values"]}
    _structure(normalized)
    return normalized


def grouping_filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError("Expected a JSON object.")
    _structure(value)
    if not rule_filters.has_filter_values(value):
        raise FieldError("Filters must contain at least one filter value.")
    return value


def assignment_filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError("Expected a JSON object.")
    _structure(value)
    return value


def drf_float(value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, str) and len(value) > DRF_MAX_STRING_LENGTH:
        raise FieldError("String value too large.", code="max_string_length")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FieldError("A valid number is required.") from None
    if not math.isfinite(number):
        raise FieldError("A valid number is required.")
    if number < minimum:
        raise FieldError(f"Ensure this value is greater than or equal to {minimum}.", code="min_value")
    if number > maximum:
        raise FieldError(f"Ensure this value is less than or equal to {maximum}.", code="max_value")
    return number


_DECIMAL_TAIL = re.compile(r"\.0*\s*$")


def drf_int(value: Any, *, minimum: int = INT32_MIN, maximum: int = INT32_MAX) -> int:
    """DRF IntegerField: ints, integral floats and numeric strings ("3", "3.0"); never bools."""
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > DRF_MAX_STRING_LENGTH):
        raise FieldError("A valid integer is required.")
    if isinstance(value, float) and not value.is_integer():
        raise FieldError("A valid integer is required.")
    try:
        number = int(_DECIMAL_TAIL.sub("", str(value)) if not isinstance(value, int) else value)
    except (TypeError, ValueError, OverflowError):
        raise FieldError("A valid integer is required.") from None
    if number < minimum:
        raise FieldError(f"Ensure this value is greater than or equal to {minimum}.", code="min_value")
    if number > maximum:
        raise FieldError(f"Ensure this value is less than or equal to {maximum}.", code="max_value")
    return number


# ---------------------------------------------------------------------------------------------------- assignee


class RuleAssigneeIn(assignees.AssigneeIn):
    """The rule endpoints' wording ("User assignee IDs must be integers.")."""

    wording: ClassVar[assignees.Wording] = assignees.RULE_WORDING


# ---------------------------------------------------------------------------------------------------- suppression


class SuppressionRuleCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filters: Any = Field(
        None,
        description="Which events to drop. Omit, or send an empty `values` list, for a match-all rule.",
        json_schema_extra=FILTERS_SCHEMA,
    )
    sampling_rate: Any = Field(
        1.0,
        description="Fraction of matching events dropped (0..1, deterministic per event uuid). Default 1.0.",
        json_schema_extra={"type": "number", "minimum": 0, "maximum": 1},
    )

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, Any] | None:
        return suppression_filters(_not_null(value))

    @field_validator("sampling_rate")
    @classmethod
    def _rate(cls, value: Any) -> float:
        return drf_float(_not_null(value), minimum=0.0, maximum=1.0)


class SuppressionRuleUpdate(SuppressionRuleCreate):
    filters: Any = Field(
        None, description="New filters; omit to keep the current ones.", json_schema_extra=FILTERS_SCHEMA
    )
    sampling_rate: Any = Field(
        None,
        description="New sampling rate; omit to keep the current one.",
        json_schema_extra={"type": "number", "minimum": 0, "maximum": 1},
    )


class SuppressionRuleOut(BaseModel):
    id: uuid.UUID
    filters: dict[str, Any]
    order_key: int
    disabled_data: Any = None
    sampling_rate: float
    created_at: dt.datetime
    updated_at: dt.datetime


# ---------------------------------------------------------------------------------------------------- dry run


class RuleDryRunIn(SuppressionRuleCreate):
    """The filters (and, for suppression, sampling rate) of a rule not saved yet, or of an edit not saved yet:
    validated exactly as a suppression rule's (the validators are inherited), described for every rule kind."""

    filters: Any = Field(
        None,
        description="The rule's filters; omit, or send an empty `values` list, for a match-all rule.",
        json_schema_extra=FILTERS_SCHEMA,
    )
    sampling_rate: Any = Field(
        1.0,
        description="Suppression only: fraction of matching events dropped (0..1). Default 1.0.",
        json_schema_extra={"type": "number", "minimum": 0, "maximum": 1},
    )


class RuleTopIssue(BaseModel):
    id: uuid.UUID
    name: str | None
    events: int


class RuleDryRunOut(BaseModel):
    kind: str = Field(description="suppression, grouping or assignment.")
    window_days: int = Field(description="How far back the stored events were read (7).")
    events_considered: int = Field(
        description="Events evaluated: the newest ones, at most FAULTLINE_RULE_PREVIEW_EVENTS."
    )
    events_in_window: int = Field(description="Every stored event of the window.")
    truncated: bool = Field(description="Fewer events were evaluated than the window holds.")
    matched_events: int
    matched_issues: int
    affected_events: int = Field(description="Suppression: matched events the sampling rate would drop.")
    match_all: bool = Field(description="The filters have no condition: every event matches.")
    matches_everything: bool = Field(
        description="Match-all, or every evaluated event matched (the UI asks to confirm)."
    )
    top_issues: list[RuleTopIssue]
    summary: str = Field(description="The same, as one sentence.")


# ---------------------------------------------------------------------------------------------------- grouping


class GroupingRuleCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filters: Any = Field(
        ...,
        description="Which exceptions to group into one issue (at least one condition).",
        json_schema_extra=FILTERS_SCHEMA,
    )
    assignee: RuleAssigneeIn | None = Field(None, description="Optional owner of the issues this rule creates.")
    description: Any = Field(None, description="What the rule is for.", json_schema_extra={"type": "string"})

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, Any]:
        return grouping_filters(_not_null(value))

    @field_validator("description")
    @classmethod
    def _description(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldError("Not a valid string.")
        text = str(value)
        if len(text) > MAX_DESCRIPTION:
            raise FieldError(f"Ensure this field has no more than {MAX_DESCRIPTION} characters.", code="max_length")
        return text


class GroupingRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filters: Any = Field(
        None, description="New filters; omit or null to keep the current ones.", json_schema_extra=FILTERS_SCHEMA
    )

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, Any] | None:
        return None if value is None else grouping_filters(value)


class IssueRef(BaseModel):
    id: uuid.UUID
    name: str | None


class GroupingRuleOut(BaseModel):
    id: uuid.UUID
    filters: dict[str, Any]
    assignee: AssigneeOut | None
    description: str | None
    issue: IssueRef | None = Field(None, description="The issue this rule's fingerprint currently belongs to.")
    order_key: int
    disabled_data: Any = None
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupingRuleList(BaseModel):
    results: list[GroupingRuleOut]


# ---------------------------------------------------------------------------------------------------- assignment


class _OrderedRuleIn(BaseModel):
    """What assignment, bypass and severity rules share on create: filters in the assignment-rule language and an
    integer order key, both required to be non-null. Subclasses redeclare the fields with their own descriptions;
    these validators apply to them by name."""

    model_config = ConfigDict(extra="ignore")

    filters: Any = Field(..., json_schema_extra=FILTERS_SCHEMA)
    order_key: Any = Field(0, json_schema_extra={"type": "integer"})

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, Any]:
        return assignment_filters(_not_null(value))

    @field_validator("order_key")
    @classmethod
    def _order_key(cls, value: Any) -> int:
        return drf_int(_not_null(value))


class _OrderedRuleUpdate(BaseModel):
    """Their shared update: filters optional (null keeps them)."""

    model_config = ConfigDict(extra="ignore")

    filters: Any = Field(None, description="New filters; omit or null to keep them.", json_schema_extra=FILTERS_SCHEMA)

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, Any] | None:
        return None if value is None else assignment_filters(value)


class AssignmentRuleCreate(_OrderedRuleIn):
    filters: Any = Field(
        ..., description="When the rule applies (an empty group matches every event).", json_schema_extra=FILTERS_SCHEMA
    )
    assignee: RuleAssigneeIn | None = Field(..., description="Who new and reopened matching issues are assigned to.")
    order_key: Any = Field(
        0, description="Evaluation priority; lower first, first match wins.", json_schema_extra={"type": "integer"}
    )

    @field_validator("assignee")
    @classmethod
    def _assignee(cls, value: RuleAssigneeIn | None) -> RuleAssigneeIn:
        return _not_null(value)


class AssignmentRuleUpdate(_OrderedRuleUpdate):
    assignee: RuleAssigneeIn | None = Field(None, description="New assignee; omit or null to keep it.")


class AssignmentRuleOut(BaseModel):
    id: uuid.UUID
    filters: dict[str, Any]
    assignee: AssigneeOut | None
    order_key: int
    disabled_data: Any = None
    created_at: dt.datetime
    updated_at: dt.datetime


# ---------------------------------------------------------------------------------------------------- reorder


class ReorderIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    orders: Any = Field(
        None,
        description="Rule id → new order_key. Unknown ids are ignored; unmentioned rules keep their key.",
        json_schema_extra={"type": "object", "additionalProperties": {"type": "integer"}},
    )

    @field_validator("orders")
    @classmethod
    def _orders(cls, value: Any) -> dict[str, Any]:
        """Only the container is checked here: item errors need `orders__<id>` as attr (see the router)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise FieldError(
                f'Expected a dictionary of items but got type "{type(value).__name__}".', code="not_a_dict"
            )
        return value


# ---------------------------------------------------------------------------------------------------- bypass


class BypassRuleCreate(_OrderedRuleIn):
    filters: Any = Field(
        ...,
        description="Which events skip the per-issue rate limit (an empty group matches every event).",
        json_schema_extra=FILTERS_SCHEMA,
    )
    order_key: Any = Field(0, description="Evaluation priority; lower first.", json_schema_extra={"type": "integer"})


class BypassRuleUpdate(_OrderedRuleUpdate):
    """Only the filters change (the order is changed by `reorder/`)."""


class BypassRuleOut(BaseModel):
    id: uuid.UUID
    filters: dict[str, Any]
    order_key: int
    disabled_data: Any = None
    created_at: dt.datetime
    updated_at: dt.datetime


# ---------------------------------------------------------------------------------------------------- severity

SEVERITY_SCHEMA: dict[str, Any] = {"type": "string", "enum": ["low", "medium", "high", "critical"]}


def _severity(value: Any) -> str:
    if not isinstance(value, str) or value not in SEVERITY_SCHEMA["enum"]:
        shown = value if isinstance(value, str | int | float) and len(str(value)) <= 100 else "value"
        raise FieldError(f'"{shown}" is not a valid choice.', code="invalid_choice")
    return value


class SeverityRuleCreate(_OrderedRuleIn):
    filters: Any = Field(
        ...,
        description="Which new issues get the severity (an empty group matches all).",
        json_schema_extra=FILTERS_SCHEMA,
    )
    severity: Any = Field(..., description="Severity given to matching new issues.", json_schema_extra=SEVERITY_SCHEMA)
    order_key: Any = Field(
        0, description="Evaluation priority; lower first, first match wins.", json_schema_extra={"type": "integer"}
    )

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: Any) -> str:
        return _severity(_not_null(value))


class SeverityRuleUpdate(_OrderedRuleUpdate):
    severity: Any = Field(None, description="New severity; omit or null to keep it.", json_schema_extra=SEVERITY_SCHEMA)

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: Any) -> str | None:
        return None if value is None else _severity(value)


class SeverityRuleOut(BaseModel):
    id: uuid.UUID
    filters: dict[str, Any]
    severity: str
    order_key: int
    disabled_data: Any = None
    created_at: dt.datetime
    updated_at: dt.datetime
