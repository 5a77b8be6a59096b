"""Validation of alert and spike-config input: one function per field, each raising `ValidationFailed` with the
offending field in `attr` (nested as `destinations__0__config__url`), shared by the REST API and the UI."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from faultline.alerts.destinations import CHANNELS
from faultline.errors import ValidationFailed
from faultline.http.errors import FieldError
from faultline.rules import filters as rule_filters
from faultline.rules import schemas as rule_schemas

TRIGGERS = ("issue_created", "issue_reopened", "issue_spiking", "issue_assigned", "event_threshold")
MAX_NAME = 400
MAX_THROTTLE_SECONDS = 7 * 86400
MAX_RECIPIENTS = 20
MAX_EMAIL = 254
THRESHOLD_MINUTES = (5, 60)  # the spike buckets are the counts: 5-minute steps over the last hour
MAX_THRESHOLD_EVENTS = 10_000_000
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")


@dataclass(frozen=True)
class Limits:
    destinations_max: int = 10
    url_max_length: int = 2048
    smtp_configured: bool = False


@dataclass
class DestinationIn:
    channel_type: str
    config: dict[str, Any]
    id: str | None = None


@dataclass
class AlertIn:
    """A validated create (every field set) or update (only the fields given)."""

    name: str | None = None
    enabled: bool | None = None
    triggers: list[str] | None = None
    filters: dict[str, Any] | None = None
    throttle_seconds: int | None = None
    threshold: dict[str, int] | None = None
    threshold_given: bool = False
    destinations: list[DestinationIn] | None = None
    given: set[str] = field(default_factory=set)


def _fail(detail: str, attr: str) -> ValidationFailed:
    return ValidationFailed(detail, attr=attr)


def _int(value: Any, attr: str, minimum: int, maximum: int) -> int:
    try:
        return rule_schemas.drf_int(value, minimum=minimum, maximum=maximum)
    except FieldError as exc:
        raise _fail(str(exc), attr) from None


def name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("A name is required.", "name")
    if len(value) > MAX_NAME:
        raise _fail(f"Ensure this field has no more than {MAX_NAME} characters.", "name")
    return value.strip()


def triggers(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _fail("Choose at least one trigger.", "triggers")
    chosen: list[str] = []
    for index, item in enumerate(value[: len(TRIGGERS) * 2]):
        if item not in TRIGGERS:
            raise _fail(f'"{str(item)[:100]}" is not a valid choice.', f"triggers__{index}")
        if item not in chosen:
            chosen.append(item)
    if len(value) > len(TRIGGERS) * 2:
        raise _fail("Too many triggers.", "triggers")
    return chosen


def filters(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "AND", "values": []}
    try:
        checked = rule_schemas.assignment_filters(value)
        rule_filters.compile_filters(checked)  # alerts refuse what would fail later (a bad regex), not disable
    except FieldError as exc:
        raise _fail(str(exc), "filters") from None
    except rule_filters.FilterError as exc:
        raise _fail(str(exc), "filters") from None
    except RecursionError:
        raise _fail("Invalid filters payload.", "filters") from None
    return checked


def threshold(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail("Expected an object with events and minutes.", "threshold")
    events = _int(value.get("events"), "threshold__events", 1, MAX_THRESHOLD_EVENTS)
    minutes = _int(value.get("minutes"), "threshold__minutes", *THRESHOLD_MINUTES)
    if minutes % 5:
        raise _fail("Minutes must be a multiple of 5 (the counts are kept in 5-minute buckets).", "threshold__minutes")
    return {"events": events, "minutes": minutes}


def url(value: Any, attr: str, limits: Limits) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("A URL is required.", attr)
    text: str = value.strip()
    if len(text) > limits.url_max_length:
        raise _fail(f"Ensure this URL has no more than {limits.url_max_length} characters.", attr)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise _fail("Enter a valid URL.", attr) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("Enter a valid http(s) URL.", attr)
    if any(ord(c) < 33 for c in text):
        raise _fail("Enter a valid URL.", attr)
    return text


def recipients(value: Any, attr: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in re.split(r"[,\s;]+", value[: MAX_RECIPIENTS * (MAX_EMAIL + 2)]) if part]
    if not isinstance(value, list) or not value:
        raise _fail("At least one e-mail address is required.", attr)
    if len(value) > MAX_RECIPIENTS:
        raise _fail(f"At most {MAX_RECIPIENTS} recipients.", attr)
    found = []
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_EMAIL or not EMAIL.match(item):
            raise _fail(f"Enter valid e-mail addresses ({str(item)[:60]!r} is not one).", attr)
        found.append(item)
    return found


def destinations(value: Any, limits: Limits) -> list[DestinationIn]:
    if not isinstance(value, list) or not value:
        raise _fail("Add at least one destination.", "destinations")
    if len(value) > limits.destinations_max:
        raise _fail(f"An alert may have at most {limits.destinations_max} destinations.", "destinations")
    found = []
    for index, item in enumerate(value):
        attr = f"destinations__{index}"
        if not isinstance(item, Mapping):
            raise _fail("Expected an object.", attr)
        channel = item.get("channel_type")
        if channel not in CHANNELS:
            raise _fail(f'"{str(channel)[:50]}" is not a valid choice.', f"{attr}__channel_type")
        config = item.get("config")
        if not isinstance(config, Mapping):
            raise _fail("Expected an object.", f"{attr}__config")
        if channel == "email":
            if not limits.smtp_configured:
                raise _fail("E-mail destinations need FAULTLINE_SMTP_URL to be set.", f"{attr}__channel_type")
            clean: dict[str, Any] = {"recipients": recipients(config.get("recipients"), f"{attr}__config__recipients")}
        else:
            clean = {"url": url(config.get("url"), f"{attr}__config__url", limits)}
        raw_id = item.get("id")
        found.append(DestinationIn(str(channel), clean, str(raw_id)[:64] if raw_id is not None else None))
    return found


def alert_input(body: Any, limits: Limits, *, partial: bool) -> AlertIn:
    if not isinstance(body, Mapping):
        raise ValidationFailed("Expected an object.", attr=None)
    out = AlertIn()
    if "name" in body or not partial:
        out.name = name(body.get("name"))
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise _fail("Must be a valid boolean.", "enabled")
        out.enabled = body["enabled"]
    elif not partial:
        out.enabled = True
    if "triggers" in body or not partial:
        out.triggers = triggers(body.get("triggers"))
    if "filters" in body or not partial:
        out.filters = filters(body.get("filters"))
    if "throttle_seconds" in body:
        out.throttle_seconds = _int(body["throttle_seconds"], "throttle_seconds", 0, MAX_THROTTLE_SECONDS)
    elif not partial:
        out.throttle_seconds = 0
    if "threshold" in body or not partial:
        out.threshold = threshold(body.get("threshold"))
        out.threshold_given = True
    if "destinations" in body or not partial:
        out.destinations = destinations(body.get("destinations"), limits)
    return out


def spike_config(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationFailed("Expected an object.")
    changes: dict[str, Any] = {}
    if "multiplier" in body:
        try:
            multiplier = rule_schemas.drf_float(body["multiplier"], minimum=1.0, maximum=1_000_000.0)
        except FieldError as exc:
            raise _fail(str(exc), "multiplier") from None
        if not math.isfinite(multiplier):
            raise _fail("A valid number is required.", "multiplier")
        changes["multiplier"] = multiplier
    if "threshold" in body:
        changes["threshold"] = _int(body["threshold"], "threshold", 1, 1_000_000_000)
    if "snooze_duration_minutes" in body:
        changes["snooze_duration_minutes"] = _int(body["snooze_duration_minutes"], "snooze_duration_minutes", 0, 10_080)
    return changes
