"""`custom` frames (SDKs of languages without a platform of their own, e.g. Elixir) and frames of platforms this
server does not know, or with none at all: shown as sent. A custom frame says itself whether it is resolved;
an unknown platform's frame counts as resolved, so the fingerprint uses its function names, not line numbers."""

from __future__ import annotations

from faultline.platforms._common import RawData, be32, hashed_lines, readable, sdk_context, sha, text, u32
from faultline.protocol import Frame, FrameContext


def raw_id(frame: RawData, lang: str | None = None) -> str:
    resolved = frame.get("resolved") is True
    parts: list[bytes | str | None] = [
        text(frame, "context_line"),
        text(frame, "filename"),
        text(frame, "function") or "",
        be32(u32(frame, "lineno")),
        be32(u32(frame, "colno")),
        lang if lang is not None else (text(frame, "lang") or ""),
        "true" if resolved else "false",
        text(frame, "module"),
    ]
    parts += hashed_lines(frame, "pre_context")
    parts += hashed_lines(frame, "post_context")
    return sha(parts)


def resolve(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    result = readable(
        frame,
        text(frame, "lang") or "unknown",
        source=text(frame, "filename"),
        column=u32(frame, "colno"),
        module=text(frame, "module"),
        resolved=frame.get("resolved") is True,
    )
    return [result], sdk_context(frame)


def generic_raw_id(frame: RawData) -> str:
    return raw_id(frame, lang=text(frame, "platform") or "unknown")


def resolve_generic(frame: RawData) -> tuple[list[Frame], FrameContext | None]:
    result = readable(
        frame,
        text(frame, "platform") or "unknown",
        source=text(frame, "filename"),
        column=u32(frame, "colno"),
        module=text(frame, "module"),
    )
    return [result], sdk_context(frame)
