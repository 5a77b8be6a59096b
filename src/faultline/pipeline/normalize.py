"""Wire-order normalisation (spec §4.4): one canonical order whatever SDK and SDK version sent the event.

Canonical: `$exception_list` outermost (caught) exception first, each cause after its wrapper; frames oldest caller
first, crashing frame last. posthog-python flipped its list order at 7.31.0 and sentry-style SDKs send root cause
first, so the list order is rebuilt from the `mechanism.exception_id/parent_id` links whenever every entry has
them (the links mean the same thing in every version); only id-less lists fall back to the per-version rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# SDKs whose frames arrive crash-site first (cymbal's table), with the first version that sends canonical order.
_FRAMES_REVERSED: dict[str, tuple[int, ...] | None] = {
    "posthog-android": None,
    "posthog-flutter": None,
    "posthog-php": (4, 11, 0),
    "posthog-go": (1, 19, 0),
    "posthog-rs": (0, 19, 0),
    "posthog-elixir": None,
    "posthog-java": None,
    "posthog-server": None,
}
# posthog-python up to 7.30.0 reversed its list (root cause first); 7.31.0+ is canonical.
_PYTHON_CANONICAL_SINCE = (7, 31, 0)


def parse_version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str):
        return None
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", value)
    if not match:
        return None
    return tuple(int(part) if part else 0 for part in match.groups())


def _older_than(version: tuple[int, ...] | None, cutoff: tuple[int, ...]) -> bool:
    """Unparseable versions count as old, as cymbal does."""
    return version is None or version < cutoff


def _mechanism_ids(exc: dict[str, Any]) -> tuple[int | None, int | None]:
    mechanism = exc.get("mechanism")
    if not isinstance(mechanism, dict):
        return None, None
    own, parent = mechanism.get("exception_id"), mechanism.get("parent_id")
    own = own if isinstance(own, int) and not isinstance(own, bool) else None
    parent = parent if isinstance(parent, int) and not isinstance(parent, bool) else None
    return own, parent


def order_by_links(exceptions: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Depth-first from the outermost exception, or None when the links are missing or ambiguous."""
    ids: dict[int, dict[str, Any]] = {}
    parents: dict[int, int | None] = {}
    for exc in exceptions:
        own, parent = _mechanism_ids(exc)
        if own is None or own in ids:
            return None
        ids[own] = exc
        parents[own] = parent
    children: dict[int | None, list[int]] = {}
    for own, parent in parents.items():
        key = parent if parent in ids and parent != own else None
        children.setdefault(key, []).append(own)
    ordered: list[dict[str, Any]] = []
    seen: set[int] = set()
    stack = sorted(children.get(None, []), reverse=True)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        ordered.append(ids[node])
        stack.extend(sorted(children.get(node, []), reverse=True))
    if len(ordered) != len(exceptions):  # a cycle: no outermost exception to start from
        return None
    return ordered


def normalize(exceptions: list[dict[str, Any]], lib: str | None, lib_version: str | None) -> list[dict[str, Any]]:
    version = parse_version(lib_version)
    if len(exceptions) > 1:
        linked = order_by_links(exceptions)
        if linked is not None:
            exceptions = linked
        elif lib == "posthog-python" and _older_than(version, _PYTHON_CANONICAL_SINCE):
            exceptions = list(reversed(exceptions))
    if lib in _FRAMES_REVERSED:
        cutoff = _FRAMES_REVERSED[lib]
        if cutoff is None or _older_than(version, cutoff):
            for exc in exceptions:
                stack = exc.get("stacktrace")
                if isinstance(stack, dict) and isinstance(stack.get("frames"), list):
                    stack["frames"] = list(reversed(stack["frames"]))
    return exceptions
