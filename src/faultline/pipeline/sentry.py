"""Stage 0 for the Sentry protocol: a queued Sentry event (`{"sentry": <event>, "event_id", "received_at",
"sent_at"}`) → the same `protocol.Event` a PostHog `$exception` becomes, so every later stage treats both alike.

What maps where (issue 14):

* `exception.values` (root cause first in Sentry) → `$exception_list` outermost first (or by the mechanism's
  `exception_id/parent_id` links when an SDK sends them, as for exception groups and JS linked errors);
* frames keep their Sentry keys (`filename, abs_path, function, module, lineno, colno, pre_context, context_line,
  post_context, in_app`), gain the event's `platform` in PostHog's spelling (`python`, `web:javascript`,
  `node:javascript`, …) and `vars` becomes `code_variables`; a JS frame whose `abs_path`/`filename` is a
  `debug_meta.images[]` source map (`code_file` → `debug_id`) carries that debug id as its `chunk_id`, which is the
  ref under which `sentry-cli sourcemaps upload` (or the symbol-set API) stores its source map;
* `fingerprint` → `Event.fingerprint_template` (`{{ default }}` kept); `level`, `release`, `environment`, `user`,
  `tags`, `contexts`, `request`, `breadcrumbs`, `sdk` → the typed fields and event properties (tags as plain
  properties, so property-filter rules match them like PostHog properties);
* an event without exceptions but with a message (`capture_message`, logging) gets one synthetic `Message` entry
  and is grouped by its normalised message (`fingerprint.message`).

Everything distrusts the payload, as the PostHog mapper does: wrong types become defaults, sizes are bounded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from faultline.ids import uuid7
from faultline.pipeline.normalize import normalize
from faultline.pipeline.parse import (
    FUTURE_TOLERANCE,
    LEVEL_ALIASES,
    LEVELS,
    MAX_DISTINCT_ID,
    MAX_ISSUE_TEXT_BYTES,
    MAX_LIB,
    MAX_MESSAGE_BYTES,
    InvalidEvent,
    _clean_exception,
    _entry,
    parse_timestamp,
    truncate_bytes,
)
from faultline.platforms._common import as_text
from faultline.protocol import Breadcrumb, Event, SdkInfo, UserInfo

MAX_EXCEPTIONS = 100
MAX_FRAMES = 1000
MAX_TAGS = 100
MAX_TAG_TEXT = 200
MAX_FINGERPRINT_PARTS = 20
MAX_FINGERPRINT_PART = 200
MAX_BREADCRUMBS = 100
MAX_IMAGES = 1000
MESSAGE_TYPE = "Message"

# Event-level `platform` → the PostHog frame platform whose rules (raw id, context lines, source maps) apply.
_FRAME_PLATFORMS = {
    "python": "python",
    "ruby": "ruby",
    "go": "go",
    "java": "java",
    "dart": "dart",
    "javascript": "web:javascript",
    "node": "node:javascript",
}
# Properties the Sentry mapping writes itself; a tag of the same name does not replace them.
_OWN_KEYS = frozenset({"release", "environment", "platform", "server_name", "transaction", "logger"})


def _text(value: Any, limit: int = MAX_TAG_TEXT) -> str | None:
    text = as_text(value)
    return text[:limit] if text is not None else None


def _frame_platform(event: Mapping[str, Any], sdk_name: str | None) -> str | None:
    platform = _text(event.get("platform"))
    if platform == "javascript" and sdk_name and "node" in sdk_name:
        return "node:javascript"
    return _FRAME_PLATFORMS.get(platform or "")


def _debug_ids(event: Mapping[str, Any]) -> dict[str, str]:
    """`debug_meta.images[]` source maps: code file (the script URL or path) → debug id, lower-case with dashes."""
    meta = event.get("debug_meta")
    images = meta.get("images") if isinstance(meta, Mapping) else None
    found: dict[str, str] = {}
    if not isinstance(images, list):
        return found
    for image in images[:MAX_IMAGES]:
        if not isinstance(image, Mapping) or image.get("type") != "sourcemap":
            continue
        code_file, debug_id = image.get("code_file"), image.get("debug_id")
        if not isinstance(code_file, str) or not isinstance(debug_id, str):
            continue
        try:
            found[code_file] = str(uuid.UUID(debug_id))
        except ValueError:
            continue
    return found


def _frame(raw: Any, platform: str | None, debug_ids: Mapping[str, str]) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    frame = dict(raw)
    variables = frame.pop("vars", None)
    if isinstance(variables, dict):
        frame["code_variables"] = variables
    if platform is not None:
        frame["platform"] = platform
    if not isinstance(frame.get("filename"), str) and isinstance(frame.get("abs_path"), str):
        frame["filename"] = frame["abs_path"]
    if debug_ids:
        for key in ("abs_path", "filename"):
            path = frame.get(key)
            if isinstance(path, str) and path in debug_ids:
                frame["chunk_id"] = debug_ids[path]
                break
    return frame


def _stacktrace(value: Any, platform: str | None, debug_ids: Mapping[str, str]) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    frames = value.get("frames")
    if not isinstance(frames, list):
        return None
    mapped = [f for f in (_frame(raw, platform, debug_ids) for raw in frames[-MAX_FRAMES:]) if f is not None]
    return {"type": "raw", "frames": mapped}


def _exception_values(event: Mapping[str, Any]) -> list[Any]:
    value = event.get("exception")
    if isinstance(value, Mapping):
        value = value.get("values")
    return value if isinstance(value, list) else []


def _exceptions(event: Mapping[str, Any], platform: str | None, debug_ids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Sentry lists the root cause first and the caught exception last: reversed here, to our outermost-first."""
    out: list[dict[str, Any]] = []
    for raw in reversed(_exception_values(event)[-MAX_EXCEPTIONS:]):
        if not isinstance(raw, Mapping):
            continue
        exc: dict[str, Any] = {
            "type": _text(raw.get("type"), 1000) or _text(raw.get("module"), 1000) or "Error",
            "value": as_text(raw.get("value")) or "",
        }
        module = _text(raw.get("module"), 1000)
        if module:
            exc["module"] = module
        mechanism = raw.get("mechanism")
        exc["mechanism"] = dict(mechanism) if isinstance(mechanism, Mapping) else {"type": "generic", "handled": True}
        stack = _stacktrace(raw.get("stacktrace"), platform, debug_ids)
        if stack is not None:
            exc["stacktrace"] = stack
        out.append(_clean_exception(exc))
    return out


def _message(event: Mapping[str, Any]) -> str | None:
    """`logentry.formatted` / `logentry.message` (logging), else `message` (a string or the same object)."""
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, Mapping):
            text = as_text(value.get("formatted")) or as_text(value.get("message"))
        else:
            text = as_text(value)
        if text and text.strip():
            return truncate_bytes(text, MAX_MESSAGE_BYTES)
    return None


def _tags(value: Any) -> dict[str, str]:
    """`{"k": "v"}` or `[["k", "v"], …]`, at most MAX_TAGS, texts bounded."""
    pairs: list[Any]
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [p for p in value if isinstance(p, list) and len(p) == 2]
    else:
        return {}
    tags: dict[str, str] = {}
    for key, raw in pairs[:MAX_TAGS]:
        name, text = _text(key), _text(raw)
        if name and text is not None:
            tags[name] = text
    return tags


def _user(value: Any) -> UserInfo | None:
    if not isinstance(value, Mapping):
        return None
    ip_address = _text(value.get("ip_address"))
    return UserInfo(
        id=_text(value.get("id")),
        email=_text(value.get("email")),
        username=_text(value.get("username")),
        # "{{auto}}" asks Sentry to fill in the client's address; it is no identity of its own.
        ip_address=ip_address if ip_address and ip_address != "{{auto}}" else None,
        data={k: v for k, v in value.items() if isinstance(k, str)},
    )


def _crumb_text(value: Any) -> str | None:
    """`_text` for the three short fields of every breadcrumb, with the common case (a string) first."""
    if type(value) is str:
        return value[:MAX_TAG_TEXT] or None
    return _text(value) or None


def _breadcrumbs(value: Any) -> tuple[list[dict[str, Any]], list[Breadcrumb]]:
    """The last `MAX_BREADCRUMBS` crumbs, twice from one pass: as stored in the event's properties and as the typed
    `Breadcrumb`s. One pass because a 50 KB event carries 100 of them: building the typed list from the stored one
    parsed every timestamp a second time, from its own `isoformat()` (a third of the Sentry mapping's CPU)."""
    if isinstance(value, Mapping):
        value = value.get("values")
    if not isinstance(value, list):
        return [], []
    out: list[dict[str, Any]] = []
    typed: list[Breadcrumb] = []
    for crumb in value[-MAX_BREADCRUMBS:]:
        # `type(…) is` first: parsed JSON is always a dict, and the ABC check costs more than the rest of a crumb.
        if type(crumb) is not dict and not isinstance(crumb, Mapping):
            continue
        get = crumb.get
        item: dict[str, Any] = {}
        timestamp = parse_timestamp(get("timestamp"))
        if timestamp is not None:
            item["timestamp"] = timestamp.isoformat()
        kind, category, level = _crumb_text(get("type")), _crumb_text(get("category")), _crumb_text(get("level"))
        if kind:
            item["type"] = kind
        if category:
            item["category"] = category
        if level:
            item["level"] = level
        message = get("message")
        message = message if type(message) is str else as_text(message)
        message = truncate_bytes(message, 2000) if message else None
        if message:
            item["message"] = message
        data = get("data")
        data = dict(data) if data and (type(data) is dict or isinstance(data, Mapping)) else None
        if data:
            item["data"] = data
        if item:
            out.append(item)
            typed.append(
                Breadcrumb(
                    timestamp=timestamp, category=category, message=message, level=level, type=kind, data=data or {}
                )
            )
    return out, typed


def _fingerprint_template(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not value:
        return None
    parts = [as_text(p) for p in value[:MAX_FINGERPRINT_PARTS]]
    template = [p[:MAX_FINGERPRINT_PART] for p in parts if p is not None]
    if not template or template == ["{{ default }}"]:
        return None  # the default grouping, said explicitly
    return template


def _level(value: Any) -> str | None:
    level = _text(value)
    if level is None:
        return None
    level = LEVEL_ALIASES.get(level.lower(), level.lower())
    return level if level in LEVELS else None


def _event_time(event: Mapping[str, Any], received_at: dt.datetime) -> dt.datetime:
    timestamp = parse_timestamp(event.get("timestamp"))
    if timestamp is None or timestamp > received_at + FUTURE_TOLERANCE or timestamp.year < 1970:
        return received_at
    return timestamp


def parse_document(project_id: int, doc: Mapping[str, Any]) -> Event:
    event = doc.get("sentry")
    if not isinstance(event, Mapping):
        raise InvalidEvent("invalid_payload", "Queued Sentry document has no event object.")
    try:
        event_uuid = uuid.UUID(str(doc.get("event_id")))
    except ValueError:
        event_uuid = uuid7()
    received_at = parse_timestamp(doc.get("received_at")) or dt.datetime.now(dt.UTC)

    raw_sdk = event.get("sdk")
    sdk_data: Mapping[str, Any] = raw_sdk if isinstance(raw_sdk, Mapping) else {}
    sdk = SdkInfo(name=_text(sdk_data.get("name"), MAX_LIB), version=_text(sdk_data.get("version"), MAX_LIB))
    platform = _frame_platform(event, sdk.name)
    debug_ids = _debug_ids(event)

    exceptions = _exceptions(event, platform, debug_ids)
    message = _message(event)
    props: dict[str, Any] = {}
    only_message: str | None = None
    if not exceptions:
        if message is None:
            raise InvalidEvent("empty_event", f"Sentry event {event_uuid} has neither an exception nor a message.")
        only_message = message
        synthetic: dict[str, Any] = {
            "type": MESSAGE_TYPE,
            "value": message,
            "mechanism": {"type": "message", "handled": True, "synthetic": True},
        }
        stack = _stacktrace(event.get("stacktrace"), platform, debug_ids)
        if stack is not None:
            synthetic["stacktrace"] = stack
        exceptions = [_clean_exception(synthetic)]
        props["$issue_name"] = truncate_bytes(message.strip().splitlines()[0], MAX_ISSUE_TEXT_BYTES)
    elif message is not None:
        props["$sentry_message"] = message
    exceptions = normalize(exceptions, sdk.name, sdk.version)

    level = _level(event.get("level"))
    release = _text(event.get("release"))
    environment = _text(event.get("environment"))
    tags = _tags(event.get("tags"))
    user = _user(event.get("user"))
    contexts = event.get("contexts") if isinstance(event.get("contexts"), Mapping) else None
    request = event.get("request") if isinstance(event.get("request"), Mapping) else None
    crumbs, typed_crumbs = _breadcrumbs(event.get("breadcrumbs"))

    for key, value in tags.items():
        if not key.startswith("$") and key not in _OWN_KEYS:
            props[key] = value
    if tags:
        props["$sentry_tags"] = tags
    for key in ("platform", "server_name", "transaction", "logger"):
        text = _text(event.get(key))
        if text:
            props[key] = text
    if release:
        props["release"] = release
    if environment:
        props["environment"] = environment
    if sdk.name:
        props["$lib"] = sdk.name
    if sdk.version:
        props["$lib_version"] = sdk.version
    if level:
        props["$exception_level"] = level
    if user is not None:
        props["$sentry_user"] = user.data
    if contexts:
        props["$sentry_contexts"] = dict(contexts)
    if request:
        props["$sentry_request"] = dict(request)
        url = _text(request.get("url"), 2000)
        if url:
            props["$current_url"] = url
    if crumbs:
        props["$sentry_breadcrumbs"] = crumbs
    extra = event.get("extra")
    if isinstance(extra, Mapping) and extra:
        props["$sentry_extra"] = dict(extra)
    props["$sentry_event_id"] = event_uuid.hex

    distinct = None
    if user is not None:
        distinct = user.id or user.email or user.username or user.ip_address
    return Event(
        project_id=project_id,
        uuid=event_uuid,
        properties=props,
        exceptions=[_entry(exc) for exc in exceptions],
        timestamp=_event_time(event, received_at),
        received_at=received_at,
        distinct_id=distinct[:MAX_DISTINCT_ID] if distinct else None,
        lib=sdk.name,
        lib_version=sdk.version,
        level=level,
        message=only_message,
        fingerprint_template=_fingerprint_template(event.get("fingerprint")),
        release=release,
        environment=environment,
        user=user,
        tags=tags or None,
        contexts=dict(contexts) if contexts else None,
        request=dict(request) if request else None,
        breadcrumbs=typed_crumbs or None,
        sdk=sdk if sdk.name else None,
    )
