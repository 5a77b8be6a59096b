"""Make untrusted strings storable on both databases.

PostgreSQL rejects NUL in `text` and `\\u0000` in `jsonb`; SQLite's driver cannot encode lone UTF-16 surrogates
(which JSON allows, e.g. `"\\ud800"`). Either would turn a user's odd input into a 500, so values headed for storage
are cleaned (NUL and lone surrogates become U+FFFD, as the digest pipeline does for issue names), and lookup values
that could never match a stored string are recognised up front. The primitives live in `faultline.http.storable`,
which also cleans every REST body; this module adds what the issues domain needs besides.
"""

from __future__ import annotations

from typing import Any

from faultline.http.storable import REPLACEMENT, clean_json, clean_text, is_storable

__all__ = ["REPLACEMENT", "clean_json", "clean_optional", "clean_text", "is_storable", "json_depth"]


def clean_optional(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


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
