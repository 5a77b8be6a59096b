"""Java / Android: obfuscated frames need a ProGuard/R8 map (`map_id`); one raw frame may expand to several
(inlined methods). Raw id: filename, function, line (big-endian u64), module."""

from __future__ import annotations

from typing import Any

from faultline.platforms import in_app
from faultline.platforms._common import (
    NO_MAP_ID,
    U64_MAX,
    RawData,
    as_int,
    as_str,
    no_upload_message,
    sha,
    symbolic,
    text,
    u32,
)
from faultline.protocol import Frame

LANG = "java"


def raw_id(frame: RawData) -> str:
    line = u32(frame, "lineno") or 0
    return sha(
        [
            text(frame, "filename"),
            text(frame, "function") or "",
            (line & U64_MAX).to_bytes(8, "big"),
            text(frame, "module") or "",
        ]
    )


def wants_symbols(frame: RawData) -> bool:
    return bool(text(frame, "map_id"))


def failed(frame: RawData, failure: str) -> Frame:
    return symbolic(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang=LANG,
        resolved=False,
        line=as_int(frame.get("lineno")),
        source=as_str(frame.get("filename")),
        module=as_str(frame.get("module")),
        resolve_failure=failure,
        in_app=in_app.decide(frame, in_app.jvm_library),
    )


def resolved(frame: RawData, remapped: Any) -> Frame:
    return symbolic(
        frame,
        mangled_name=as_str(frame.get("function")) or "",
        lang=LANG,
        resolved=True,
        line=remapped.line or None,
        source=remapped.file or None,
        module=remapped.class_name,
        resolved_name=remapped.method,
    )


def unavailable(frame: RawData) -> list[Frame]:
    map_id = as_str(frame.get("map_id"))
    return [failed(frame, no_upload_message(map_id, proguard=True) if map_id else NO_MAP_ID)]
