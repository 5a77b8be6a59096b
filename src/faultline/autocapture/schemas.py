"""Autocapture controls and error-tracking settings: request validation with PostHog's (DRF's) messages.

URL triggers and blocklist entries are JavaScript regexes evaluated by the SDK in the browser; we can only check
they compile. Python's `re` is the closest engine to JavaScript's that we have (named groups are translated), and
compiling a pattern — unlike matching it — is safe whatever the pattern.
"""

from __future__ import annotations

import decimal
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.http.errors import FieldError
from faultline.rules.schemas import DRF_MAX_STRING_LENGTH, INT32_MAX, drf_int

LIBRARIES = ("web",)
MATCH_TYPES = ("all", "any")
MAX_TRIGGERS = 100
MAX_PATTERN = 2000
MAX_EVENT_NAME = 400


def _not_null(value: Any) -> Any:
    if value is None:
        raise FieldError("This field may not be null.", code="null")
    return value


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    _not_null(value)
    if not isinstance(value, str) or value not in choices:
        raise FieldError(f'"{value}" is not a valid choice.', code="invalid_choice")
    return value


def drf_decimal(value: Any) -> decimal.Decimal:
    """DRF DecimalField(max_digits=3, decimal_places=2) followed by the model's 0..1 validators."""
    _not_null(value)
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > DRF_MAX_STRING_LENGTH):
        raise FieldError("A valid number is required.")
    try:
        number = decimal.Decimal(str(value).strip() if isinstance(value, str | int | float) else "x")
    except decimal.InvalidOperation:
        raise FieldError("A valid number is required.") from None
    if not number.is_finite():
        raise FieldError("A valid number is required.")
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= 0:
        total, places = len(digits) + exponent, 0
    else:
        total, places = max(len(digits), -exponent), -exponent
    whole = total - places
    if total > 3:
        raise FieldError("Ensure that there are no more than 3 digits in total.", code="max_digits")
    if places > 2:
        raise FieldError("Ensure that there are no more than 2 decimal places.", code="max_decimal_places")
    if whole > 1:
        raise FieldError(
            "Ensure that there are no more than 1 digits before the decimal point.", code="max_whole_digits"
        )
    quantized = number.quantize(decimal.Decimal("0.01"))
    if quantized < 0:
        raise FieldError("Ensure this value is greater than or equal to 0.", code="min_value")
    if quantized > 1:
        raise FieldError("Ensure this value is less than or equal to 1.", code="max_value")
    return quantized


_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_JS_BACKREF = re.compile(r"\\k<([A-Za-z_$][\w$]*)>")


def check_js_regex(pattern: str) -> None:
    """Raise FieldError unless the pattern compiles (JS named groups/backreferences translated for Python)."""
    translated = _JS_BACKREF.sub(r"(?P=\1)", _JS_NAMED_GROUP.sub("(?P<", pattern))
    try:
        re.compile(translated)
    except (re.error, RecursionError, OverflowError) as exc:
        raise FieldError(f"Invalid regular expression {pattern!r}: {exc}") from None


def _url_triggers(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f'Expected a list of items but got type "{type(value).__name__}".', code="not_a_list")
    if len(value) > MAX_TRIGGERS:
        raise FieldError(f"Ensure this field has no more than {MAX_TRIGGERS} elements.", code="max_length")
    cleaned: list[dict[str, Any]] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise FieldError('Each entry must be an object like {"url": "<regex>", "matching": "regex"}.')
        url, matching = entry.get("url"), entry.get("matching", "regex")
        if not isinstance(url, str) or not url:
            raise FieldError("Each entry needs a non-empty `url` regular expression.")
        if len(url) > MAX_PATTERN:
            raise FieldError(f"URL patterns may have at most {MAX_PATTERN} characters.")
        if matching != "regex":
            raise FieldError(
                f'"{matching}" is not a valid choice for `matching` (only "regex").', code="invalid_choice"
            )
        check_js_regex(url)
        cleaned.append({"url": url, "matching": "regex"})
    return cleaned


class ControlsIn(BaseModel):
    """Every field is optional on create (model defaults) and on update (unchanged when omitted)."""

    model_config = ConfigDict(extra="ignore")

    match_type: Any = Field(
        None,
        description="How triggers combine: `all` (default) or `any`.",
        json_schema_extra={"enum": list(MATCH_TYPES)},
    )
    sample_rate: Any = Field(
        None,
        description='Fraction of sessions that autocapture exceptions, as a decimal string ("0.00".."1.00").',
        json_schema_extra={"type": "string", "pattern": r"^-?\d{0,1}(?:\.\d{0,2})?$"},
    )
    linked_feature_flag: Any = Field(
        None,
        description='Only capture when this flag is enabled: {"id": int, "key": str, "variant": str|null} or null.',
        json_schema_extra={"type": "object", "nullable": True},
    )
    event_triggers: Any = Field(
        None,
        description="Start capturing after one of these events.",
        json_schema_extra={"type": "array", "items": {"type": "string"}},
    )
    url_triggers: Any = Field(
        None,
        description='Start capturing on URLs matching one of these regexes: [{"url": "<regex>", "matching": "regex"}].',
        json_schema_extra={"type": "array", "items": {"type": "object"}},
    )
    url_blocklist: Any = Field(
        None,
        description="Never capture on URLs matching one of these regexes (same shape as url_triggers).",
        json_schema_extra={"type": "array", "items": {"type": "object"}},
    )

    @field_validator("match_type")
    @classmethod
    def _match_type(cls, value: Any) -> str:
        return _choice(value, MATCH_TYPES)

    @field_validator("sample_rate")
    @classmethod
    def _sample_rate(cls, value: Any) -> decimal.Decimal:
        return drf_decimal(value)

    @field_validator("linked_feature_flag")
    @classmethod
    def _flag(cls, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise FieldError('Expected an object like {"id": 1, "key": "my-flag", "variant": null}.')
        key, flag_id, variant = value.get("key"), value.get("id"), value.get("variant")
        if not isinstance(key, str) or not key or len(key) > 400:
            raise FieldError("The linked feature flag needs a non-empty string `key`.")
        if flag_id is not None and (isinstance(flag_id, bool) or not isinstance(flag_id, int)):
            raise FieldError("The linked feature flag `id` must be an integer.")
        if variant is not None and (not isinstance(variant, str) or len(variant) > 400):
            raise FieldError("The linked feature flag `variant` must be a string or null.")
        return {"id": flag_id, "key": key, "variant": variant}

    @field_validator("event_triggers")
    @classmethod
    def _events(cls, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldError(f'Expected a list of items but got type "{type(value).__name__}".', code="not_a_list")
        if len(value) > MAX_TRIGGERS:
            raise FieldError(f"Ensure this field has no more than {MAX_TRIGGERS} elements.", code="max_length")
        if not all(isinstance(v, str) and 0 < len(v) <= MAX_EVENT_NAME for v in value):
            raise FieldError(f"Event triggers must be non-empty strings of at most {MAX_EVENT_NAME} characters.")
        return list(dict.fromkeys(value))

    @field_validator("url_triggers", "url_blocklist")
    @classmethod
    def _urls(cls, value: Any) -> list[dict[str, Any]]:
        return _url_triggers(value)


class ControlsOut(BaseModel):
    id: uuid.UUID
    library: str
    match_type: str
    sample_rate: str = Field(..., description='Decimal string, e.g. "1.00".')
    linked_feature_flag: dict[str, Any] | None
    event_triggers: list[str]
    url_triggers: list[dict[str, Any]]
    url_blocklist: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------------------ settings

RATE_LIMIT_FIELDS = (
    "project_rate_limit_value",
    "project_rate_limit_bucket_size_minutes",
    "per_issue_rate_limit_value",
    "per_issue_rate_limit_bucket_size_minutes",
)

_TRUE = {True, "true", "True", "TRUE", "1", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON", "t", "T"}
_FALSE = {False, "false", "False", "FALSE", "0", "no", "No", "NO", "n", "N", "off", "Off", "OFF", "f", "F"}


def drf_bool(value: Any) -> bool:
    _not_null(value)
    try:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    except TypeError:
        pass
    raise FieldError("Must be a valid boolean.")


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    return drf_int(value, minimum=1, maximum=INT32_MAX)


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    autocapture_exceptions_opt_in: Any = Field(
        None,
        description="Whether SDKs autocapture unhandled exceptions for this project (served in remote config).",
        json_schema_extra={"type": "boolean"},
    )
    project_rate_limit_value: Any = Field(
        None,
        description="Max exception events per bucket for the project; null = no limit.",
        json_schema_extra={"type": "integer", "minimum": 1, "nullable": True},
    )
    project_rate_limit_bucket_size_minutes: Any = Field(
        None,
        description="Bucket size of the project limit, minutes.",
        json_schema_extra={"type": "integer", "minimum": 1, "nullable": True},
    )
    per_issue_rate_limit_value: Any = Field(
        None,
        description="Max exception events per bucket for each issue; null = no limit.",
        json_schema_extra={"type": "integer", "minimum": 1, "nullable": True},
    )
    per_issue_rate_limit_bucket_size_minutes: Any = Field(
        None,
        description="Bucket size of the per-issue limit, minutes.",
        json_schema_extra={"type": "integer", "minimum": 1, "nullable": True},
    )

    @field_validator("autocapture_exceptions_opt_in")
    @classmethod
    def _opt_in(cls, value: Any) -> bool:
        return drf_bool(value)

    @field_validator(*RATE_LIMIT_FIELDS)
    @classmethod
    def _limits(cls, value: Any) -> int | None:
        return _limit(value)


class SettingsOut(BaseModel):
    autocapture_exceptions_opt_in: bool
    project_rate_limit_value: int | None
    project_rate_limit_bucket_size_minutes: int | None
    per_issue_rate_limit_value: int | None
    per_issue_rate_limit_bucket_size_minutes: int | None
