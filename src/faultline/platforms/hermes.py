"""Hermes (React Native): frames are bytecode offsets (`colno` on line 1) that need the Hermes source map of their
chunk id. Raw id: function, filename, column as decimal text, chunk id."""

from __future__ import annotations

from typing import Any

from faultline.platforms._common import (
    NO_CHUNK_ID,
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

LANG = "hermes-js"


def raw_id(frame: RawData) -> str:
    col = u32(frame, "colno")
    return sha(
        [
            text(frame, "function") or "",
            text(frame, "filename") or "",
            str(col if col is not None else 0),
            text(frame, "chunkId") or text(frame, "chunk_id"),
        ]
    )


def wants_symbols(frame: RawData) -> bool:
    return bool(chunk_id_of(frame))


def failed(frame: RawData, failure: str) -> Frame:
    return symbolic(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang=LANG,
        resolved=False,
        line=1,
        column=as_int(frame.get("colno")),
        source=as_str(frame.get("filename")),
        resolve_failure=failure,
    )


def resolved(frame: RawData, token: Any) -> Frame:
    source = token.source
    return symbolic(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang=LANG,
        resolved=True,
        line=token.line,
        column=token.column,
        source=source,
        resolved_name=token.function_name,
        in_app=("node_modules" not in source) if source else None,
    )


def unavailable(frame: RawData) -> list[Frame]:
    chunk_id = chunk_id_of(frame)
    return [failed(frame, no_upload_message(chunk_id) if chunk_id else NO_CHUNK_ID)]
