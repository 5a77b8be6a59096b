"""Dart / Flutter: readable frames, source is `abs_path` (package URI) when sent; raw id includes the package."""

from __future__ import annotations

from faultline.platforms import in_app
from faultline.platforms._common import RawData, be32, readable, sha, text, u32
from faultline.protocol import Frame, FrameContext

LANG = "dart"


def raw_id(frame: RawData) -> str:
    return sha(
        [
            text(frame, "filename"),
            text(frame, "package"),
            text(frame, "function") or "",
            be32(u32(frame, "lineno")),
            be32(u32(frame, "colno")),
        ]
    )


def resolve(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    source = text(frame, "abs_path") or text(frame, "filename")
    decided = in_app.decide(frame, in_app.dart_library)
    return [readable(frame, LANG, source=source, column=u32(frame, "colno"), in_app=decided)], None
