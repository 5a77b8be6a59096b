"""Stage 0 (spec §5.1): a queued PostHog capture document → a `protocol.Event`, or an `InvalidEvent` saying why not.

Everything here distrusts the payload: wrong types become defaults rather than exceptions, strings are cleaned of
NUL (PostgreSQL JSONB rejects it) and truncated as cymbal does, and reserved output properties sent by a client are
dropped so the digest's own values can never be spoofed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from faultline.ids import uuid7
from faultline.pipeline.normalize import normalize
from faultline.platforms._common import as_text
from faultline.protocol import Event, ExceptionEntry

MAX_MESSAGE_BYTES = 10_000
MAX_TYPE_BYTES = 255
MAX_ISSUE_TEXT_BYTES = 255
MAX_DISTINCT_ID = 200
MAX_LIB = 100
FUTURE_TOLERANCE = dt.timedelta(hours=23)

RESERVED_OUTPUT_KEYS = frozenset(
    {
        "$exception_types",
        "$exception_values",
        "$exception_sources",
        "$exception_functions",
        "$exception_handled",
        "$exception_fingerprint_record",
        "$exception_fingerprint_version",
        "$exception_proposed_fingerprint",
        "$exception_issue_id",
        "$exception_release",
        "$exception_releases",
        "$cymbal_errors",
    }
)
LEVEL_ALIASES = {
    "critical": "fatal",
    "alert": "fatal",
    "emergency": "fatal",
    "warn": "warning",
    "notice": "info",
    "trace": "debug",
}
LEVELS = {"fatal", "error", "warning", "log", "info", "debug"}


class InvalidEvent(Exception):
    """The event can never be digested (counted as dropped_invalid and reported in ingest_errors)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_text(value: str) -> str:
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def sanitize(value: Any) -> Any:
    """NUL → U+FFFD in every string, keys included (only called when the payload contains an escaped NUL)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    return value


def truncate_bytes(value: str, limit: int, ellipsis: str = "...") -> str:
    """UTF-8-safe truncation to `limit` bytes, then the ellipsis (as cymbal does)."""
    if len(value) * 4 <= limit:  # fast path: cannot exceed even in 4-byte characters
        return value
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return value
    return raw[:limit].decode("utf-8", "ignore") + ellipsis


def parse_timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def event_time(event: dict[str, Any], props: dict[str, Any], sent_at: Any, received_at: dt.datetime) -> dt.datetime:
    """PostHog's rule: trust the client's clock only relative to its own `sent_at` (skew correction), never more
    than ~a day into the future; fall back to the time the server received the event."""
    timestamp = parse_timestamp(event.get("timestamp"))
    if timestamp is None:
        offset = event.get("offset")
        if isinstance(offset, (int, float)) and not isinstance(offset, bool) and 0 <= offset < 10**11:
            return received_at - dt.timedelta(milliseconds=offset)
        return received_at
    raw_options = event.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    skip_skew = bool(props.get("$ignore_sent_at")) or bool(options.get("disable_skew_correction"))
    sent = parse_timestamp(sent_at) if not skip_skew else None
    if sent is not None:
        try:
            timestamp = received_at + (timestamp - sent)
        except OverflowError:
            timestamp = received_at
    if timestamp > received_at + FUTURE_TOLERANCE:
        return received_at
    if timestamp.year < 1970:
        return received_at
    return timestamp


def _legacy_exception(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Old SDKs (posthog-js < 1.100, posthog-python < 7.10) sent one exception as flat properties."""
    exc_type = props.get("$exception_type")
    if not isinstance(exc_type, str):
        return []
    entry: dict[str, Any] = {
        "type": exc_type,
        "value": as_text(props.get("$exception_message")) or "",
        "mechanism": {"type": "generic", "handled": bool(props.get("$exception_handled", True))},
    }
    raw = props.get("$exception_stack_trace_raw")
    frames: Any = None
    if isinstance(raw, str):
        try:
            frames = orjson.loads(raw)
        except orjson.JSONDecodeError:
            frames = None
    elif isinstance(raw, list):
        frames = raw
    if isinstance(frames, list):
        entry["stacktrace"] = {"type": "raw", "frames": [f for f in frames if isinstance(f, dict)]}
    return [entry]


def _clean_exception(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise InvalidEvent("invalid_exception", "Every exception needs a string `type`.")
    exc = dict(raw)
    exc["type"] = truncate_bytes(raw["type"], MAX_TYPE_BYTES)
    exc["value"] = truncate_bytes(as_text(raw.get("value")) or "", MAX_MESSAGE_BYTES)
    mechanism = raw.get("mechanism")
    exc["mechanism"] = dict(mechanism) if isinstance(mechanism, dict) else {"type": "generic", "handled": True}
    stack = raw.get("stacktrace")
    if isinstance(stack, dict):
        frames = stack.get("frames")
        exc["stacktrace"] = {
            "type": "raw",
            "frames": [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else [],
        }
    else:
        exc.pop("stacktrace", None)
    exc["id"] = str(uuid7())
    return exc


def _entry(exc: dict[str, Any]) -> ExceptionEntry:
    """The typed view of a cleaned (and normalised) wire entry, which it keeps as the JSON to store."""
    stack = exc.get("stacktrace")
    frames = stack["frames"] if stack is not None else None
    return ExceptionEntry(exc["type"], exc["value"], exc["id"], exc, frames)


def _sdk_info(value: Any) -> tuple[str | None, str | None]:
    """`PostHog-Sdk-Info: posthog-python/7.91.1` (V1 transport) → ("posthog-python", "7.91.1")."""
    if not isinstance(value, str) or "/" not in value:
        return None, None
    name, _, version = value.strip().partition("/")
    return name[:MAX_LIB] or None, version[:MAX_LIB] or None


def parse_document(project_id: int, doc: Any) -> Event:
    if not isinstance(doc, dict) or not isinstance(doc.get("event"), dict):
        raise InvalidEvent("invalid_payload", "Queued document has no event.")
    event = doc["event"]
    name = event.get("event")
    if name != "$exception":
        raise InvalidEvent("wrong_event_type", f"Wrong event type: {name!r}")
    event_id = event.get("uuid")
    try:
        parsed_uuid = uuid.UUID(event_id) if isinstance(event_id, str) else uuid7()
    except ValueError:
        parsed_uuid = uuid7()
    props = event.get("properties")
    props = dict(props) if isinstance(props, dict) else {}
    received_at = parse_timestamp(doc.get("received_at")) or dt.datetime.now(dt.UTC)

    header_lib, header_version = _sdk_info(doc.get("sdk_info"))
    if header_lib and not isinstance(props.get("$lib"), str):
        props["$lib"] = header_lib
        if header_version:
            props["$lib_version"] = header_version
    lib = props.get("$lib") if isinstance(props.get("$lib"), str) else None
    lib_version = props.get("$lib_version") if isinstance(props.get("$lib_version"), str) else None

    raw_list = props.get("$exception_list")
    if isinstance(raw_list, list) and raw_list:
        exceptions = [_clean_exception(e) for e in raw_list]
    elif raw_list is None or raw_list == []:
        exceptions = [_clean_exception(e) for e in _legacy_exception(props)]
    else:
        raise InvalidEvent("invalid_exception_list", "$exception_list must be a list of exceptions.")
    if not exceptions:
        raise InvalidEvent("empty_exception_list", f"Empty exception list on event {parsed_uuid}")
    exceptions = normalize(exceptions, lib, lib_version)

    for key in RESERVED_OUTPUT_KEYS.intersection(props):
        del props[key]
    for key in ("$issue_name", "$issue_description"):
        if key in props:
            text = as_text(props[key])
            if text is None:
                del props[key]
            else:
                props[key] = truncate_bytes(text, MAX_ISSUE_TEXT_BYTES)

    distinct = as_text(event.get("distinct_id"))
    if distinct is None:
        distinct = as_text(props.get("distinct_id")) or as_text(props.get("$device_id"))
    level = as_text(props.get("$exception_level"))
    if level is not None:
        level = LEVEL_ALIASES.get(level.lower(), level.lower())
        level = level if level in LEVELS else None
    fingerprint = props.get("$exception_fingerprint")
    client_fingerprint = as_text(fingerprint) if fingerprint not in (None, "") else None

    sent_at = doc.get("sent_at")
    return Event(
        project_id=project_id,
        uuid=parsed_uuid,
        properties=props,
        exceptions=[_entry(exc) for exc in exceptions],
        timestamp=event_time(event, props, sent_at, received_at),
        received_at=received_at,
        distinct_id=distinct[:MAX_DISTINCT_ID] if distinct else None,
        lib=lib[:MAX_LIB] if lib else None,
        lib_version=lib_version[:MAX_LIB] if lib_version else None,
        level=level,
        client_fingerprint=client_fingerprint,
    )


def load_document(payload: bytes) -> Any:
    """A queued payload as JSON, NUL-free (whatever protocol it came in)."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_payload", f"Queued payload is not JSON: {exc}") from None
    if b"\\u0000" in payload:
        doc = sanitize(doc)
    return doc


def parse_payload(project_id: int, payload: bytes) -> Event:
    return parse_document(project_id, load_document(payload))
