"""Go: readable frames, no context lines; raw id = filename, function, line (big-endian u32)."""

from __future__ import annotations

from faultline.platforms import in_app
from faultline.platforms._common import RawData, be32, readable, sha, text, u32
from faultline.protocol import Frame, FrameContext

LANG = "go"


def raw_id(frame: RawData) -> str:
    return sha([text(frame, "filename") or "", text(frame, "function") or "", be32(u32(frame, "lineno"))])


def resolve(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    decided = in_app.decide(frame, in_app.go_library)
    return [readable(frame, LANG, source=text(frame, "filename"), in_app=decided)], None
