"""What the event browser shows about one stored `$exception` event: the facts people triage by, then everything.

SDK properties are untrusted and unbounded; values are stringified, truncated and never interpreted as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

MAX_VALUE_CHARS = 2000
MAX_PROPERTIES = 500
# Shown elsewhere on the page (stack trace, grouping) or pure noise in a table.
HIDDEN = frozenset({"$exception_list", "$exception_fingerprint_record", "$cymbal_errors"})


@dataclass(frozen=True)
class EventSummary:
    lib: str | None
    url: str | None
    browser: str | None
    os: str | None
    runtime: str | None
    distinct_id: str | None
    level: str | None
    handled: bool | None
    release: str | None
    errors: list[str]


def _s(value: Any, limit: int = 300) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _join(*parts: Any) -> str | None:
    shown = [p for p in (_s(part, 100) for part in parts) if p]
    return " ".join(shown) or None


def summarize(properties: Any, *, distinct_id: str | None = None, lib: str | None = None) -> EventSummary:
    props: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    release = props.get("$exception_release")
    release_name = _s(release.get("version")) if isinstance(release, Mapping) else _s(props.get("$app_version"))
    errors = props.get("$cymbal_errors")
    handled = props.get("$exception_handled")
    return EventSummary(
        lib=_join(lib or props.get("$lib"), props.get("$lib_version")),
        url=_s(props.get("$current_url"), 2000),
        browser=_join(props.get("$browser"), props.get("$browser_version")),
        os=_join(props.get("$os"), props.get("$os_version")),
        runtime=_join(props.get("$python_runtime"), props.get("$python_version")),
        distinct_id=_s(distinct_id or props.get("distinct_id"), 200),
        level=_s(props.get("$exception_level"), 20),
        handled=handled if isinstance(handled, bool) else None,
        release=release_name,
        errors=[_s(e, 500) or "" for e in errors[:20]] if isinstance(errors, list) else [],
    )


def property_rows(properties: Any) -> list[tuple[str, str]]:
    """Sorted (key, display value) pairs; nested values as compact JSON."""
    if not isinstance(properties, Mapping):
        return []
    rows: list[tuple[str, str]] = []
    for key in sorted(str(k) for k in properties)[: MAX_PROPERTIES + len(HIDDEN)]:
        if key in HIDDEN:
            continue
        value = properties.get(key)
        if isinstance(value, str):
            text = value
        else:
            try:
                text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
            except TypeError:
                text = repr(value)
        if len(text) > MAX_VALUE_CHARS:
            text = text[:MAX_VALUE_CHARS] + f"… ({len(text) - MAX_VALUE_CHARS} more characters)"
        rows.append((key[:200], text))
        if len(rows) >= MAX_PROPERTIES:
            break
    return rows


MAX_BREADCRUMBS = 100


@dataclass(frozen=True)
class BreadcrumbRow:
    time: str
    category: str | None
    level: str | None
    message: str


def breadcrumbs(properties: Any) -> list[BreadcrumbRow]:
    """The Sentry breadcrumbs of an event (`$sentry_breadcrumbs`), oldest first: what happened before the error."""
    crumbs = properties.get("$sentry_breadcrumbs") if isinstance(properties, Mapping) else None
    if not isinstance(crumbs, list):
        return []
    rows = []
    for crumb in crumbs[-MAX_BREADCRUMBS:]:
        if not isinstance(crumb, Mapping):
            continue
        message = _s(crumb.get("message"), 500)
        if message is None and isinstance(crumb.get("data"), Mapping):
            message = _s(orjson.dumps(crumb["data"], default=str).decode(), 500)
        rows.append(
            BreadcrumbRow(
                time=_s(crumb.get("timestamp"), 40) or "",
                category=_s(crumb.get("category"), 100),
                level=_s(crumb.get("level"), 20),
                message=message or "",
            )
        )
    return rows
