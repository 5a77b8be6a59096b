"""Building resolved Frame objects (spec §4.5) from raw frames, per platform.

These are pure functions: the resolver finds the symbols, these decide what the user sees, including the
"was this frame minified at all?" guess that keeps hand-written, unminified scripts readable when no source map
exists. Every unresolved frame says why in `resolve_failure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

MAX_CONTEXT_LINE = 300
CONTEXT_LINES = 15
U32_MAX = 0xFFFFFFFF

# Failure kinds that decide the "minified?" guess for JavaScript frames.
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


def chunk_id_of(frame: Mapping[str, Any]) -> str | None:
    """SDKs disagree on the spelling: posthog-js sends `chunk_id`, React Native `chunkId`."""
    return as_str(frame.get("chunk_id")) or as_str(frame.get("chunkId"))


def as_int(value: Any) -> int | None:
    """A JSON number usable as a line/column: ints (or integral floats) in u32 range; anything else is absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= U32_MAX:
        return value
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def flag(frame: Mapping[str, Any], key: str, default: bool) -> bool:
    value = frame.get(key, default)
    return value if isinstance(value, bool) else default


def clip(line: str) -> str:
    line = line.rstrip("\r\n")
    return line if len(line) <= MAX_CONTEXT_LINE else line[:MAX_CONTEXT_LINE] + "...✂️"


def context_from(
    line_number: int, line: str | None, before: Sequence[str], after: Sequence[str], *, clipped: bool = False
) -> dict[str, Any] | None:
    """`{"before": [{"number", "line"}], "line": {...}, "after": [...]}` with 1-based original line numbers."""
    if line is None:
        return None
    cut = (lambda text: text) if clipped else clip
    first = line_number - len(before)
    return {
        "before": [{"number": first + i, "line": cut(text)} for i, text in enumerate(before)],
        "line": {"number": line_number, "line": cut(line)},
        "after": [{"number": line_number + 1 + i, "line": cut(text)} for i, text in enumerate(after)],
    }


def context_from_lines(
    lines: Sequence[str], line_number: int, radius: int = CONTEXT_LINES, *, clipped: bool = False
) -> dict[str, Any] | None:
    index = line_number - 1
    if index < 0 or index >= len(lines):
        return None
    before = lines[max(0, index - radius) : index]
    return context_from(line_number, lines[index], before, lines[index + 1 : index + 1 + radius], clipped=clipped)


def contents(
    raw: Mapping[str, Any],
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
) -> dict[str, Any]:
    return {
        "mangled_name": mangled_name,
        "line": line,
        "column": column,
        "source": source,
        "module": module,
        "in_app": flag(raw, "in_app", True) if in_app is None else in_app,
        "resolved_name": resolved_name,
        "lang": lang,
        "resolved": resolved,
        "resolve_failure": resolve_failure,
        "synthetic": flag(raw, "synthetic", False),
        "suspicious": suspicious,
        "junk_drawer": {"raw_frame": dict(raw)},
    }


# ---------------------------------------------------------------------------------------------------------------------
# JavaScript (browser)


def clean_script_url(filename: str | None) -> str | None:
    """The script URL of a browser frame: http(s) only, with up to two trailing `:line:col` suffixes removed."""
    if not filename or not filename.startswith(("http://", "https://")):
        return None
    url = filename
    for _ in range(2):
        colon, slash = url.rfind(":"), url.rfind("/")
        if colon > slash:
            url = url[:colon]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return url if parts.hostname else None


def url_path(filename: str | None) -> str | None:
    url = clean_script_url(filename)
    return urlsplit(url).path if url else None


def js_location(frame: Mapping[str, Any]) -> tuple[int, int] | None:
    line, column = as_int(frame.get("lineno")), as_int(frame.get("colno"))
    return (line, column) if line is not None and column is not None else None


def js_unminified(frame: Mapping[str, Any]) -> dict[str, Any]:
    """A browser frame without a location: assumed not minified (native code, eval, hand-written)."""
    filename = as_str(frame.get("filename"))
    function = as_str(frame.get("function")) or ""
    return contents(
        frame,
        mangled_name=function,
        lang="javascript",
        resolved=True,
        source=url_path(filename),
        resolved_name=function,
        in_app=flag(frame, "in_app", True) and filename != "<anonymous>",
    )


def js_was_minified(failure: str, column: int) -> bool:
    if failure == NO_URL_OR_CHUNK_ID:
        return False
    if failure.startswith((NO_SOURCEMAP_PREFIX, FETCH_DISABLED_PREFIX, BLOCKED_PREFIX)):
        # We could not look (or found no map): guess. People rarely write lines longer than ~300 characters,
        # minifiers always do. (Scripts on localhost, never fetched by default, are mostly unminified dev builds.)
        return column > 300
    return True


def js_failed(frame: Mapping[str, Any], failure: str) -> dict[str, Any]:
    line, column = js_location(frame) or (None, None)
    function = as_str(frame.get("function")) or ""
    minified = js_was_minified(failure, column or 0)
    return contents(
        frame,
        mangled_name=function,
        lang="javascript",
        resolved=not minified,
        line=line,
        column=column,
        source=url_path(as_str(frame.get("filename"))),
        resolved_name=None if minified else function,
        resolve_failure=failure,
    )


def js_token_not_found(frame: Mapping[str, Any]) -> str:
    line, column = js_location(frame) or (0, 0)
    return f"Token not found for frame: {as_str(frame.get('function')) or ''}:{line}:{column}"


def js_resolved(frame: Mapping[str, Any], token: Any, lang: str = "javascript") -> dict[str, Any]:
    """A frame looked up in a `symbolic.SourceMapCache` token (1-based line/column, enclosing function name)."""
    source = token.src
    return contents(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang=lang,
        resolved=True,
        line=token.line,
        column=token.col,
        source=source,
        resolved_name=token.function_name,
        in_app=("node_modules" not in source) if source else None,
        suspicious=bool(source and "posthog-js@" in source),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Node.js


def node_context(frame: Mapping[str, Any]) -> dict[str, Any] | None:
    line = as_int(frame.get("lineno"))
    context_line = as_str(frame.get("context_line"))
    if line is None or context_line is None:
        return None
    return context_from(line, context_line, _strings(frame.get("pre_context")), _strings(frame.get("post_context")))


def _strings(value: Any) -> list[str]:
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


def node_direct(frame: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    function = as_str(frame.get("function")) or ""
    result = contents(
        frame,
        mangled_name=function,
        lang="javascript",
        resolved=True,
        line=as_int(frame.get("lineno")),
        source=as_str(frame.get("filename")),
        resolved_name=function,
    )
    return result, node_context(frame)


def node_failed(frame: Mapping[str, Any], failure: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    context = node_context(frame)
    lines = [*(c["line"] for c in context["before"]), *(c["line"] for c in context["after"])] if context else []
    minified = bool(lines) and sum(len(x) for x in lines) / len(lines) > 300
    function = as_str(frame.get("function")) or ""
    result = contents(
        frame,
        mangled_name=function,
        lang="javascript",
        resolved=not minified,
        line=as_int(frame.get("lineno")),
        column=as_int(frame.get("colno")),
        resolved_name=None if minified else function,
        resolve_failure=failure,
    )
    return result, context


# ---------------------------------------------------------------------------------------------------------------------
# Hermes (React Native)


def hermes_failed(frame: Mapping[str, Any], failure: str) -> dict[str, Any]:
    return contents(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang="hermes-js",
        resolved=False,
        line=1,
        column=as_int(frame.get("colno")),
        source=as_str(frame.get("filename")),
        resolve_failure=failure,
    )


def hermes_resolved(frame: Mapping[str, Any], token: Any) -> dict[str, Any]:
    source = token.source
    return contents(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang="hermes-js",
        resolved=True,
        line=token.line,
        column=token.column,
        source=source,
        resolved_name=token.function_name,
        in_app=("node_modules" not in source) if source else None,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Java (ProGuard / R8)


def java_failed(frame: Mapping[str, Any], failure: str) -> dict[str, Any]:
    return contents(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang="java",
        resolved=False,
        line=as_int(frame.get("lineno")),
        source=as_str(frame.get("filename")),
        module=as_str(frame.get("module")),
        resolve_failure=failure,
    )


def java_resolved(frame: Mapping[str, Any], remapped: Any) -> dict[str, Any]:
    return contents(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang="java",
        resolved=True,
        line=remapped.line or None,
        source=remapped.file or None,
        module=remapped.class_name,
        resolved_name=remapped.method,
    )
