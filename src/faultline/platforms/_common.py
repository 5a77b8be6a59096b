"""What every platform module shares: tolerant reads of untrusted raw-frame JSON, raw-id hashing, context lines
and the Frame builder.

Two readers exist on purpose, because the two former `frames.py` twins read differently and the stored output
must not change (issue 13 keeps behaviour; the next issue may unify them):

* `text`/`u32` (formerly `pipeline/frames.py`): a number sent for a text field counts as its decimal text;
* `as_str`/`as_int` (formerly `symbols/frames.py`): only a JSON string is text.

Context lines differ the same way — see `sdk_context` (Python, Ruby, custom and unknown platforms) and
`node_context` (Node):

====================  =====================================  ======================================
                      `sdk_context`                           `node_context`
====================  =====================================  ======================================
non-string line       kept as an empty line (numbering kept)  dropped (numbering shifts)
line number < 1       dropped from `before`                   kept
trailing CR/LF        kept                                    stripped before the 300-character cap
====================  =====================================  ======================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from faultline.protocol import ContextLine, Frame, FrameContext

RawData = Mapping[str, Any]

CONTEXT_LINE_CAP = 300
CONTEXT_LINES = 15
U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF
_SNIP = "...✂️"

# Failure texts (spec §5.3); the JavaScript ones also decide its "was this frame minified?" guess.
NO_URL_OR_CHUNK_ID = "This frame had no source url or chunk id"
NO_CHUNK_ID = "No chunk id sent with frame"
NO_MAP_ID = "No map ID sent with frame"
NO_MODULE = "No module provided"
NO_SOURCEMAP_PREFIX = "Could not find sourcemap for source url: "
FETCH_DISABLED_PREFIX = "No source map: fetching scripts is disabled"
BLOCKED_PREFIX = "Refusing to fetch "


def no_upload_message(ref: str, *, proguard: bool = False) -> str:
    if proguard:
        return f"No proguard map uploaded for id: {ref}"
    return f"No sourcemap uploaded for chunk id: {ref}"


# -- tolerant reads ------------------------------------------------------------------------------------------------


def as_text(value: Any) -> str | None:
    """A string, or a number as SDKs in typed languages sometimes send it for a text field; anything else is absent."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def text(frame: RawData, key: str) -> str | None:
    return as_text(frame.get(key))


def as_int(value: Any) -> int | None:
    """A JSON number usable as a line/column: ints (or integral floats) in u32 range; anything else is absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= U32_MAX:
        return value
    return None


def u32(frame: RawData, key: str) -> int | None:
    return as_int(frame.get(key))


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def code_variables(frame: RawData) -> dict[str, Any] | None:
    """The local variables an SDK sent with a frame: posthog-python's `code_variables`, Sentry's `vars`.

    They belong to one event, not to the frame: the same line runs with other values in the next event, so they are
    never part of the raw id, the per-batch memo or the shared stack-frame rows (the digest copies them into the
    event's own `$exception_list`). Their size is bounded by the event's (FAULTLINE_MAX_EVENT_BYTES)."""
    for key in ("code_variables", "vars"):
        value = frame.get(key)
        if isinstance(value, Mapping) and value:
            return dict(value)
    return None


def flag(frame: RawData, key: str, default: bool) -> bool:
    value = frame.get(key, default)
    return value if isinstance(value, bool) else default


def chunk_id_of(frame: RawData) -> str | None:
    """SDKs disagree on the spelling: posthog-js sends `chunk_id`, React Native `chunkId`."""
    return as_str(frame.get("chunk_id")) or as_str(frame.get("chunkId"))


def hashed_lines(frame: RawData, key: str) -> list[str]:
    """Context lines as the raw id hashes them: a non-string entry counts as an empty line."""
    value = frame.get(key)
    if not isinstance(value, list):
        return []
    return [line if isinstance(line, str) else "" for line in value]


def _strings(value: Any) -> list[str]:
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


# -- raw ids -----------------------------------------------------------------------------------------------------


def sha(parts: Sequence[bytes | str | None]) -> str:
    """SHA-512 of the parts in order (None skipped), as cymbal feeds its hasher: same raw frame, same id."""
    digest = hashlib.sha512()
    for part in parts:
        if part is None:
            continue
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
    return digest.hexdigest()


def be32(value: int | None) -> bytes:
    return ((value or 0) & U32_MAX).to_bytes(4, "big")


def raw_id_with_context(frame: RawData, *, with_module: bool = True) -> str:
    """Node, Python and Ruby: the frame's source lines are part of its identity."""
    parts: list[bytes | str | None] = [
        text(frame, "context_line"),
        text(frame, "filename") or "",
        text(frame, "function") or "",
        be32(u32(frame, "lineno")),
        text(frame, "module") if with_module else None,
    ]
    parts += hashed_lines(frame, "pre_context")
    parts += hashed_lines(frame, "post_context")
    return sha(parts)


# -- context lines -----------------------------------------------------------------------------------------------


def _cap(line: str) -> str:
    return line if len(line) <= CONTEXT_LINE_CAP else line[:CONTEXT_LINE_CAP] + _SNIP


def clip(line: str) -> str:
    return _cap(line.rstrip("\r\n"))


def sdk_context(frame: RawData) -> FrameContext | None:
    """Context from SDK-sent source lines (Python, Ruby, custom, unknown platforms).

    `pre_context` is in file order (its last entry is the line just above), so it is numbered upwards from the
    end; cymbal numbers it from the start, which puts the numbers in the wrong place in the UI.
    """
    line_text = text(frame, "context_line")
    lineno = u32(frame, "lineno")
    if line_text is None or lineno is None:
        return None
    pre, post = hashed_lines(frame, "pre_context"), hashed_lines(frame, "post_context")
    first = lineno - len(pre)
    return FrameContext(
        before=[ContextLine(first + i, _cap(t)) for i, t in enumerate(pre) if first + i >= 1],
        line=ContextLine(lineno, _cap(line_text)),
        after=[ContextLine(lineno + 1 + i, _cap(t)) for i, t in enumerate(post)],
    )


def context_from(
    line_number: int, line: str | None, before: Sequence[str], after: Sequence[str], *, clipped: bool = False
) -> FrameContext | None:
    """Context with 1-based original line numbers (Node frames, source maps, Hermes maps)."""
    if line is None:
        return None
    cut = (lambda value: value) if clipped else clip
    first = line_number - len(before)
    return FrameContext(
        before=[ContextLine(first + i, cut(t)) for i, t in enumerate(before)],
        line=ContextLine(line_number, cut(line)),
        after=[ContextLine(line_number + 1 + i, cut(t)) for i, t in enumerate(after)],
    )


def context_from_lines(
    lines: Sequence[str], line_number: int, radius: int = CONTEXT_LINES, *, clipped: bool = False
) -> FrameContext | None:
    index = line_number - 1
    if index < 0 or index >= len(lines):
        return None
    before = lines[max(0, index - radius) : index]
    return context_from(line_number, lines[index], before, lines[index + 1 : index + 1 + radius], clipped=clipped)


def node_context(frame: RawData) -> FrameContext | None:
    line = as_int(frame.get("lineno"))
    context_line = as_str(frame.get("context_line"))
    if line is None or context_line is None:
        return None
    return context_from(line, context_line, _strings(frame.get("pre_context")), _strings(frame.get("post_context")))


# -- building frames -----------------------------------------------------------------------------------------------


def readable(
    frame: RawData,
    lang: str,
    *,
    source: str | None,
    column: int | None = None,
    module: str | None = None,
    resolved: bool = True,
    code_variables: dict[str, Any] | None = None,
    in_app: bool | None = None,
) -> Frame:
    """A frame of a language whose frames arrive readable: the SDK's function name is the resolved name.
    `in_app`: the platform's decision (`platforms.in_app`); None = the SDK's flag, true when absent."""
    function = text(frame, "function") or ""
    return Frame(
        mangled_name=function,
        line=u32(frame, "lineno"),
        column=column,
        source=source,
        module=module,
        in_app=flag(frame, "in_app", True) if in_app is None else in_app,
        resolved_name=function,
        lang=lang,
        resolved=resolved,
        synthetic=frame.get("synthetic") is True,
        suspicious=False,
        code_variables=code_variables,
    )


def symbolic(
    raw: RawData,
    *,
    mangled_name: str,
    lang: str,
    resolved: bool,
    line: int | None = None,
    column: int | None = None,
    source: str | None = None,
    module: str | None = None,
    resolved_name: str | None = None,
    resolve_failure: str | None = None,
    in_app: bool | None = None,
    suspicious: bool = False,
) -> Frame:
    """A frame of a platform that needs symbol data, resolved or not; it keeps the raw frame in its junk drawer so
    a later upload's re-resolution can find and redo it."""
    return Frame(
        mangled_name=mangled_name,
        line=line,
        column=column,
        source=source,
        module=module,
        in_app=flag(raw, "in_app", True) if in_app is None else in_app,
        resolved_name=resolved_name,
        lang=lang,
        resolved=resolved,
        resolve_failure=resolve_failure,
        synthetic=flag(raw, "synthetic", False),
        suspicious=suspicious,
        junk_drawer={"raw_frame": dict(raw)},
    )
