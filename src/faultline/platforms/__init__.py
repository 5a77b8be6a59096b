"""Per-platform frame knowledge — the only place that knows a platform (spec §4.3, §4.5, §5.3).

One module per platform owns its raw frame id (the SHA-512 of the identifying fields, fed in exactly the order
and encoding PostHog's cymbal uses, so a raw frame gets the same id here as there), the normalisation of its
frames into `protocol.Frame`s, its in-app rule and its context lines. Platforms whose frames arrive readable
(python, ruby, go, dart, custom) resolve directly; javascript, node, hermes and java frames are first offered to the
symbol resolver (`wants_symbols`) and otherwise get the "symbols unavailable" Frame that the resolver builds for the
same failure. The symbols domain only finds symbols; what the user then sees is built here.

Known differences between platforms that are kept as they are (the next issue decides): see `_common`'s table of
Python vs Node context lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faultline.platforms import custom, dart, go, hermes, java, javascript, node, python, ruby
from faultline.platforms._common import RawData, code_variables
from faultline.protocol import Frame, FrameContext, ResolvedFrame

Builder = Callable[[RawData], tuple[list[Frame], FrameContext | None]]


def _no_symbols(frame: RawData) -> bool:
    return False


def _without_context(build: Callable[[RawData], list[Frame]]) -> Builder:
    def wrapped(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
        return build(frame), None

    return wrapped


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    raw_id: Callable[[RawData], str]
    build: Builder
    # Whether the symbol resolver is asked first (only frames that carry what a symbol set needs).
    wants_symbols: Callable[[RawData], bool] = _no_symbols

    def resolve(self, frame: RawData, raw_hash: str) -> list[ResolvedFrame]:
        """The frame as shown without symbol data (directly, or the "symbols unavailable" frame)."""
        frames, context = self.build(frame)
        return [
            ResolvedFrame(raw_hash, part, built, context if part == 0 else None) for part, built in enumerate(frames)
        ]


_JS = Platform("javascript", javascript.raw_id, _without_context(javascript.unavailable), javascript.wants_symbols)
PLATFORMS: dict[str, Platform] = {
    "web:javascript": _JS,
    "javascript": _JS,
    "node:javascript": Platform("node", node.raw_id, node.unavailable, node.wants_symbols),
    "python": Platform("python", python.raw_id, python.resolve),
    "ruby": Platform("ruby", ruby.raw_id, ruby.resolve),
    "go": Platform("go", go.raw_id, go.resolve),
    "java": Platform("java", java.raw_id, _without_context(java.unavailable), java.wants_symbols),
    "dart": Platform("dart", dart.raw_id, dart.resolve),
    "hermes": Platform("hermes", hermes.raw_id, _without_context(hermes.unavailable), hermes.wants_symbols),
    "custom": Platform("custom", custom.raw_id, custom.resolve),
}
GENERIC = Platform("generic", custom.generic_raw_id, custom.resolve_generic)


def platform_of(frame: RawData) -> Platform:
    name = frame.get("platform")
    return PLATFORMS.get(name, GENERIC) if isinstance(name, str) else GENERIC


def raw_id(frame: RawData) -> str:
    return platform_of(frame).raw_id(frame)


__all__ = ["GENERIC", "PLATFORMS", "Platform", "code_variables", "platform_of", "raw_id"]
