"""Node.js (`node:javascript`): readable unless bundled with a chunk id; context lines come from the SDK.

Raw id as Python's (source lines included). Only frames with a chunk id and a location are offered to the symbol
resolver; without symbols a frame whose context lines average over 300 characters is taken as minified. Context
lines are read the Node way (`_common.node_context`, which differs from Python's — see `_common`).
"""

from __future__ import annotations

from faultline.platforms import in_app, javascript
from faultline.platforms._common import (
    RawData,
    as_int,
    as_str,
    chunk_id_of,
    no_upload_message,
    node_context,
    raw_id_with_context,
    symbolic,
)
from faultline.protocol import Frame, FrameContext

LANG = "javascript"


def raw_id(frame: RawData) -> str:
    return raw_id_with_context(frame)


def wants_symbols(frame: RawData) -> bool:
    return javascript.location(frame) is not None and bool(chunk_id_of(frame))


def direct(frame: RawData) -> tuple[Frame, FrameContext | None]:
    function = as_str(frame.get("function")) or ""
    result = symbolic(
        frame,
        mangled_name=function,
        lang=LANG,
        resolved=True,
        line=as_int(frame.get("lineno")),
        source=as_str(frame.get("filename")),
        resolved_name=function,
        in_app=in_app.decide(frame, in_app.node_library),
    )
    return result, node_context(frame)


def failed(frame: RawData, failure: str) -> tuple[Frame, FrameContext | None]:
    context = node_context(frame)
    lines = [*(c.line for c in context.before), *(c.line for c in context.after)] if context else []
    minified = bool(lines) and sum(len(x) for x in lines) / len(lines) > 300
    function = as_str(frame.get("function")) or ""
    result = symbolic(
        frame,
        mangled_name=function,
        lang=LANG,
        resolved=not minified,
        line=as_int(frame.get("lineno")),
        column=as_int(frame.get("colno")),
        resolved_name=None if minified else function,
        resolve_failure=failure,
        in_app=in_app.decide(frame, in_app.node_library),
    )
    return result, context


def unavailable(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    chunk_id = chunk_id_of(frame)
    if not chunk_id or javascript.location(frame) is None:
        result, context = direct(frame)
    else:
        result, context = failed(frame, no_upload_message(chunk_id))
    return [result], context
