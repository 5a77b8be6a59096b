"""Python: frames arrive readable; context lines come from the SDK (local variables: `_common.code_variables`).

Raw id: context line, filename, function, line (big-endian u32), module, then the pre/post context lines.
"""

from __future__ import annotations

from faultline.platforms import in_app
from faultline.platforms._common import RawData, raw_id_with_context, readable, sdk_context, text
from faultline.protocol import Frame, FrameContext

LANG = "python"


def raw_id(frame: RawData) -> str:
    return raw_id_with_context(frame)


def resolve(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    result = readable(
        frame,
        LANG,
        source=text(frame, "filename"),
        module=text(frame, "module"),
        in_app=in_app.decide(frame, in_app.python_library),
    )
    return [result], sdk_context(frame)
