"""Browser JavaScript (`web:javascript`, `javascript`): frames need a source map; without one, a guess.

Raw id: function, line and column as decimal text, filename (cymbal's order). Frames with a location are offered
to the symbol resolver; when no source map is available the frame says why, and "was it minified at all?" is
guessed from the failure (a column past 300 means minified), so hand-written scripts stay readable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from faultline.platforms import in_app
from faultline.platforms._common import (
    BLOCKED_PREFIX,
    FETCH_DISABLED_PREFIX,
    NO_SOURCEMAP_PREFIX,
    NO_URL_OR_CHUNK_ID,
    RawData,
    as_int,
    as_str,
    chunk_id_of,
    no_upload_message,
    sha,
    symbolic,
    text,
    u32,
)
from faultline.protocol import Frame

LANG = "javascript"


def raw_id(frame: RawData) -> str:
    line, col = u32(frame, "lineno"), u32(frame, "colno")
    located = line is not None and col is not None
    return sha(
        [
            text(frame, "function") or "",
            str(line) if located else None,
            str(col) if located else None,
            text(frame, "filename") or "",
        ]
    )


def location(frame: RawData) -> tuple[int, int] | None:
    line, column = as_int(frame.get("lineno")), as_int(frame.get("colno"))
    return (line, column) if line is not None and column is not None else None


def wants_symbols(frame: RawData) -> bool:
    return location(frame) is not None


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


def unminified(frame: RawData) -> Frame:
    """A browser frame without a location: assumed not minified (native code, eval, hand-written)."""
    filename = as_str(frame.get("filename"))
    function = as_str(frame.get("function")) or ""
    return symbolic(
        frame,
        mangled_name=function,
        lang=LANG,
        resolved=True,
        source=url_path(filename),
        resolved_name=function,
        in_app=in_app.decide(frame, in_app.browser_library) and filename != "<anonymous>",
    )


def was_minified(failure: str, column: int) -> bool:
    if failure == NO_URL_OR_CHUNK_ID:
        return False
    if failure.startswith((NO_SOURCEMAP_PREFIX, FETCH_DISABLED_PREFIX, BLOCKED_PREFIX)):
        # We could not look (or found no map): guess. People rarely write lines longer than ~300 characters,
        # minifiers always do. (Scripts on localhost, never fetched by default, are mostly unminified dev builds.)
        return column > 300
    return True


def failed(frame: RawData, failure: str) -> Frame:
    line, column = location(frame) or (None, None)
    function = as_str(frame.get("function")) or ""
    minified = was_minified(failure, column or 0)
    return symbolic(
        frame,
        mangled_name=function,
        lang=LANG,
        resolved=not minified,
        line=line,
        column=column,
        source=url_path(as_str(frame.get("filename"))),
        resolved_name=None if minified else function,
        resolve_failure=failure,
    )


def token_not_found(frame: RawData) -> str:
    line, column = location(frame) or (0, 0)
    return f"Token not found for frame: {as_str(frame.get('function')) or ''}:{line}:{column}"


def resolved(frame: RawData, token: Any, lang: str = LANG) -> Frame:
    """A frame looked up in a `symbolic.SourceMapCache` token (1-based line/column, enclosing function name)."""
    source = token.src
    return symbolic(
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


def unavailable(frame: RawData) -> list[Frame]:
    """No symbols for this frame (none uploaded, or the resolver did not answer): exactly the Frame the symbol
    resolver builds for the same failure, so a later upload's re-resolution finds it like any unresolved one."""
    if location(frame) is None:  # no location: probably not minified (native code, eval, …)
        return [unminified(frame)]
    chunk_id = chunk_id_of(frame)
    filename = as_str(frame.get("filename"))
    if chunk_id:
        failure = no_upload_message(chunk_id)
    elif filename and clean_script_url(filename):
        failure = NO_SOURCEMAP_PREFIX + filename
    else:
        failure = NO_URL_OR_CHUNK_ID
    return [failed(frame, failure)]
