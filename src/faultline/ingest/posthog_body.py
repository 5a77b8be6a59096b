"""From decoded JSON bytes to the events of a capture request, with the light checks capture can afford.

Body shapes (sdk-wire-formats.md TL;DR §2): `{api_key|token, batch: [...], sent_at}` (posthog-python V0, current
posthog-js), `{created_at, batch: [...]}` + Bearer (posthog-python V1), a single event object (docs, old JS) and
a bare array of events (old JS). Deep validation belongs to the digest; capture only rejects what can never become
an issue, so the SDK is told at once (a 4xx is not retried) instead of the event vanishing later.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from faultline.http import errors
from faultline.ids import uuid7
from faultline.ingest import jsonscan

EXCEPTION_EVENT = "$exception"
MAX_EXCEPTIONS = 100  # posthog-python and posthog-js send at most 50
MAX_FRAMES = 1000  # per exception; the SDKs send at most 50, Sentry's SDKs 250
MAX_EVENTS_PER_REQUEST = 10_000
_STRING_OR_NULL = (str, type(None))


@dataclass
class CaptureBody:
    events: list[Any]
    token: str | None
    sent_at: str | None


def check_value_count(data: bytes, max_values: int) -> None:
    """413 before parsing a body whose values would cost more memory than configured (see `jsonscan`)."""
    if jsonscan.may_exceed(data, max_values) and jsonscan.count_values(data) > max_values:
        raise errors.payload_too_large(
            f"Request body holds more than {max_values} JSON values (FAULTLINE_MAX_JSON_VALUES)."
        )


def parse_json(data: bytes, *, max_values: int) -> Any:
    check_value_count(data, max_values)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson refuses invalid UTF-8, lone surrogates and nesting deeper than 1024 levels. Lone surrogate escapes
        # are what browsers write for a string cut mid-emoji, and posthog-js never retries a 400, so the whole
        # batch would be lost: they become U+FFFD instead, as the digest does for NUL.
        if jsonscan.may_hold_surrogate_escape(data):
            try:
                return orjson.loads(jsonscan.replace_lone_surrogates(data))
            except orjson.JSONDecodeError:
                pass
        raise errors.parse_error(f"Malformed request data: {exc}") from None


def _token_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def parse_body(data: bytes, *, max_values: int) -> CaptureBody:
    body = parse_json(data, max_values=max_values)
    if isinstance(body, list):
        events, token, sent_at = body, None, None
    elif isinstance(body, dict):
        if "batch" in body:
            events = body["batch"]
            if not isinstance(events, list):
                raise errors.validation_error("`batch` must be a list of events.", "batch")
        elif "event" in body:
            events = [body]
        else:
            raise errors.validation_error("Request has neither `batch` nor `event`.", None, code="invalid_payload")
        token = _token_of(body.get("api_key")) or _token_of(body.get("token"))
        sent_at = body.get("sent_at") if isinstance(body.get("sent_at"), str) else None
    else:
        raise errors.validation_error("Request body must be a JSON object or array.", None, code="invalid_payload")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise errors.payload_too_large(f"A request may carry at most {MAX_EVENTS_PER_REQUEST} events.")
    if not token:
        for event in events[:1]:
            if isinstance(event, dict):
                props = event.get("properties")
                token = _token_of(event.get("api_key")) or _token_of(event.get("token"))
                if not token and isinstance(props, dict):
                    token = _token_of(props.get("token"))
    return CaptureBody(events=events, token=token, sent_at=sent_at)


class EventRejected(Exception):
    def __init__(self, detail: str, attr: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attr = attr


def _check_exception_list(value: Any, attr: str) -> None:
    if not isinstance(value, list):
        raise EventRejected("$exception_list must be a list.", attr)
    if len(value) > MAX_EXCEPTIONS:
        raise EventRejected(f"$exception_list has more than {MAX_EXCEPTIONS} exceptions.", attr)
    for i, entry in enumerate(value):
        where = f"{attr}__{i}"
        if not isinstance(entry, dict):
            raise EventRejected("Each exception must be an object.", where)
        if not isinstance(entry.get("type"), str):
            raise EventRejected("Exception `type` is required and must be a string.", f"{where}__type")
        if not isinstance(entry.get("value", ""), _STRING_OR_NULL):
            raise EventRejected("Exception `value` must be a string.", f"{where}__value")
        if not isinstance(entry.get("mechanism"), (dict, type(None))):
            raise EventRejected("Exception `mechanism` must be an object.", f"{where}__mechanism")
        stack = entry.get("stacktrace")
        if stack is None:
            continue
        if not isinstance(stack, dict):
            raise EventRejected("Exception `stacktrace` must be an object.", f"{where}__stacktrace")
        frames = stack.get("frames", [])
        if not isinstance(frames, list):
            raise EventRejected("`stacktrace.frames` must be a list.", f"{where}__stacktrace__frames")
        if len(frames) > MAX_FRAMES:
            raise EventRejected(f"A stack trace may have at most {MAX_FRAMES} frames.", f"{where}__stacktrace__frames")
        for j, frame in enumerate(frames):
            if not isinstance(frame, dict):
                raise EventRejected("Each frame must be an object.", f"{where}__stacktrace__frames__{j}")


def check_event(event: Any, index: int) -> None:
    """Raise EventRejected for an event that can never be digested."""
    where = f"batch__{index}"
    if not isinstance(event, dict):
        raise EventRejected("Each event must be a JSON object.", where)
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise EventRejected("`event` is required and must be a non-empty string.", f"{where}__event")
    props = event.get("properties", {})
    if not isinstance(props, (dict, type(None))):
        raise EventRejected("`properties` must be an object.", f"{where}__properties")
    if name != EXCEPTION_EVENT:
        return
    props = props or {}
    if "$exception_list" in props and props["$exception_list"] is not None:
        _check_exception_list(props["$exception_list"], f"{where}__properties__$exception_list")
        if not props["$exception_list"] and not isinstance(props.get("$exception_type"), str):
            raise EventRejected("$exception_list is empty.", f"{where}__properties__$exception_list")
    elif not isinstance(props.get("$exception_type"), str):
        raise EventRejected(
            "An $exception event needs a non-empty $exception_list.", f"{where}__properties__$exception_list"
        )
    timestamp = event.get("timestamp")
    if timestamp is not None and not isinstance(timestamp, (str, int, float)):
        raise EventRejected("`timestamp` must be an ISO 8601 string.", f"{where}__timestamp")


def event_uuid(event: dict[str, Any]) -> str:
    """The event's uuid, normalised; events without a usable one get a fresh UUIDv7 *here*, before queueing, so
    a redelivered message keeps its identity and the digest's idempotency holds."""
    raw = event.get("uuid")
    if isinstance(raw, str) and len(raw) <= 64:
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    return str(uuid7())


def queue_payload(
    event: dict[str, Any],
    *,
    sent_at: str | None,
    received_at: dt.datetime,
    sdk_info: str | None = None,
) -> bytes:
    """The document the digest worker reads back (see `faultline.pipeline.parse.from_payload`)."""
    doc: dict[str, Any] = {"event": event, "received_at": received_at.isoformat()}
    if sent_at:
        doc["sent_at"] = sent_at
    if sdk_info:
        doc["sdk_info"] = sdk_info
    return orjson.dumps(doc)
