"""The culprit of an issue: `function in file` of the frame where its exception was raised in the user's own code.

That is what people scan a list for ("which handler is it?"), and what the issue header names. Taken from the
first (outermost) exception of the chain that has frames: its most recent in-app frame (stored frames are
bottom-up, entry point first), else its most recent frame of any kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_CULPRIT = 300


def _name(frame: Mapping[str, Any]) -> str | None:
    for key in ("resolved_name", "mangled_name", "function"):
        value = frame.get(key)
        if isinstance(value, str) and value and value != "?":
            return value
    return None


def _file(frame: Mapping[str, Any]) -> str | None:
    for key in ("source", "filename", "module", "abs_path"):
        value = frame.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def culprit_of(exception_list: Any) -> str | None:
    """`charge in myapp/billing.py` from a stored (or raw) `$exception_list`; None without frames."""
    if not isinstance(exception_list, Sequence) or isinstance(exception_list, str):
        return None
    for exc in exception_list[:50]:
        stack = exc.get("stacktrace") if isinstance(exc, Mapping) else None
        frames = stack.get("frames") if isinstance(stack, Mapping) else None
        if not isinstance(frames, list) or not frames:
            continue
        usable = [f for f in frames if isinstance(f, Mapping)]
        in_app = [f for f in usable if f.get("in_app") is not False]
        for frame in reversed(in_app or usable):
            name, file = _name(frame), _file(frame)
            if name or file:
                text = f"{name} in {file}" if name and file else (name or file or "")
                return text[:MAX_CULPRIT]
    return None
