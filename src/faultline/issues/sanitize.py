"""Make untrusted strings storable on both databases.

PostgreSQL rejects NUL in `text` and `\\u0000` in `jsonb`; SQLite's driver cannot encode lone UTF-16 surrogates
(which JSON allows, e.g. `"\\ud800"`). Either would turn a user's odd input into a 500, so values headed for storage
are cleaned here (NUL and lone surrogates become U+FFFD, as the digest pipeline does for issue names), and lookup
values that could never match a stored string are recognised up front.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """The string with every character neither database can store replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_optional(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def clean_json(value: Any, _depth: int = 0) -> Any:
    """A JSON value with every string (keys included) cleaned; nesting beyond 64 levels is rejected by callers."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, _depth + 1) for v in value]
    return value


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counting no further than `limit + 1` (cheap guard against deep payloads)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def is_storable(value: str) -> bool:
    """False when no stored (cleaned) string can equal `value`, so a lookup can answer "not found" directly."""
    return _UNSTORABLE.search(value) is None
