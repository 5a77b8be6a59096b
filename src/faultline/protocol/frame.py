"""Resolved frames (spec §4.5 Frame) and their source context, as the stages pass them around.

A `Frame` serialises to exactly the JSON object stored in `$exception_list` and in `error_tracking_stack_frames`
rows: fields in the order below, unset (None) fields omitted, keys the digest does not know (a symbol resolver may
add some) kept after them. `ResolvedFrame` is one output frame of one raw frame: a raw frame may expand to several
(inlined Java frames), numbered by `part`; `raw_id` is `<sha512 of the raw frame>/<part>`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Known keys in stored order (raw_id is written first in `$exception_list`, last in stack-frame rows).
_FIELDS = (
    "mangled_name",
    "line",
    "column",
    "source",
    "module",
    "in_app",
    "resolved_name",
    "lang",
    "resolved",
    "resolve_failure",
    "synthetic",
    "suspicious",
    "junk_drawer",
    "code_variables",
    "release",
)
_KNOWN = frozenset((*_FIELDS, "raw_id"))


@dataclass(slots=True)
class Frame:
    mangled_name: str | None = None
    line: int | None = None
    column: int | None = None
    source: str | None = None
    module: str | None = None
    in_app: bool | None = None
    resolved_name: str | None = None
    lang: str | None = None
    resolved: bool | None = None
    resolve_failure: str | None = None
    synthetic: bool | None = None
    suspicious: bool | None = None
    junk_drawer: dict[str, Any] | None = None
    code_variables: dict[str, Any] | None = None
    release: dict[str, Any] | None = None
    raw_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Frame:
        """A stored or seam-supplied frame object; values are taken as they are (they were built by this server or
        by a symbol resolver), unknown keys kept in `extra`."""
        get = value.get
        frame = cls(
            get("mangled_name"),
            get("line"),
            get("column"),
            get("source"),
            get("module"),
            get("in_app"),
            get("resolved_name"),
            get("lang"),
            get("resolved"),
            get("resolve_failure"),
            get("synthetic"),
            get("suspicious"),
            get("junk_drawer"),
            get("code_variables"),
            get("release"),
            get("raw_id"),
        )
        if not _KNOWN.issuperset(value):
            frame.extra = {k: v for k, v in value.items() if k not in _KNOWN and v is not None}
        return frame

    def contents(self) -> dict[str, Any]:
        """The stored Frame object without `raw_id`; null fields omitted."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.extra:
            out.update(self.extra)
        return out

    def as_json(self) -> dict[str, Any]:
        """The frame as `$exception_list` stores it: `raw_id` first."""
        return {"raw_id": self.raw_id, **self.contents()}

    def seam_json(self) -> dict[str, Any]:
        """Every known field, null ones included (what a `SymbolBatch` answers in `FrameResolution.contents`)."""
        out = {name: getattr(self, name) for name in _FIELDS if name not in ("code_variables", "release")}
        if self.code_variables is not None:
            out["code_variables"] = self.code_variables
        return out


@dataclass(slots=True)
class ContextLine:
    number: int
    line: str

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "line": self.line}


@dataclass(slots=True)
class FrameContext:
    """Source lines around a frame: `before` in file order, the frame's `line`, `after` in file order."""

    before: list[ContextLine]
    line: ContextLine
    after: list[ContextLine]

    def as_json(self) -> dict[str, Any]:
        return {
            "before": [c.as_json() for c in self.before],
            "line": self.line.as_json(),
            "after": [c.as_json() for c in self.after],
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> FrameContext:
        def line(item: Mapping[str, Any]) -> ContextLine:
            return ContextLine(item["number"], item["line"])

        return cls([line(c) for c in value["before"]], line(value["line"]), [line(c) for c in value["after"]])


@dataclass(slots=True)
class ResolvedFrame:
    """One output frame of one raw frame, with what its stack-frame row needs besides the Frame."""

    raw_hash: str
    part: int
    frame: Frame
    source_context: FrameContext | None = None
    symbol_set_id: uuid.UUID | None = None

    @property
    def raw_id(self) -> str:
        return f"{self.raw_hash}/{self.part}"

    @property
    def resolved(self) -> bool:
        return bool(self.frame.resolved)

    @property
    def context(self) -> dict[str, Any] | None:
        """The context lines as the stack-frame row stores them."""
        return self.source_context.as_json() if self.source_context is not None else None

    @property
    def contents(self) -> dict[str, Any]:
        """The stored Frame object without `raw_id`."""
        return self.frame.contents()
