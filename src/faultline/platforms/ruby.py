"""Ruby: readable frames with SDK context lines; the raw id is Python's without the module."""

from __future__ import annotations

from faultline.platforms import in_app
from faultline.platforms._common import RawData, raw_id_with_context, readable, sdk_context, text
from faultline.protocol import Frame, FrameContext

LANG = "ruby"


def raw_id(frame: RawData) -> str:
    return raw_id_with_context(frame, with_module=False)


def resolve(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    decided = in_app.decide(frame, in_app.ruby_library)
    return [readable(frame, LANG, source=text(frame, "filename"), in_app=decided)], sdk_context(frame)
