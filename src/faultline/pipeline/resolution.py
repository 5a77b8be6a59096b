"""Stage 1 (spec §5.3–§5.4): resolve every raw frame, turn raw stacks into resolved ones, compute metadata.

Frames are resolved once per (project, raw id) per batch: the same frame in a hundred events of one batch costs
one resolution. The batch's `SymbolBatch` (seam) is asked first for frames that carry symbol references; when it
answers None the platform's own treatment applies (`faultline.platforms`). Resolution happens before the write
transaction (see `SymbolBatch`), so nothing here writes: the stack-frame rows are handed to the caller to store.
The same resolver serves the digest and re-processing after a late upload (`faultline.pipeline.reprocess`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from faultline.platforms import code_variables, platform_of
from faultline.protocol import (
    ExceptionEntry,
    Frame,
    FrameContext,
    FrameResolution,
    ResolvedException,
    ResolvedFrame,
    SymbolBatch,
)


class Resolution:
    """One resolved raw frame: its output frames, their typed Frames and the JSON objects `$exception_list` stores
    for them (built once per batch, copied into each event)."""

    __slots__ = ("frames", "items", "jsons")

    def __init__(self, items: list[ResolvedFrame]) -> None:
        self.items = items
        self.frames = [item.frame for item in items]
        self.jsons = [item.frame.as_json() for item in items]


class FrameResolver:
    """Per-batch memo of raw frame → resolved frames, plus the stack-frame rows to upsert."""

    def __init__(self, symbols: SymbolBatch) -> None:
        self.symbols = symbols
        self._memo: dict[tuple[int, str], Resolution] = {}
        self.errors: list[str] = []

    @staticmethod
    def _from_seam(results: Sequence[FrameResolution], raw_hash: str) -> list[ResolvedFrame]:
        out = []
        for part, res in enumerate(results):
            frame = Frame.from_json({k: v for k, v in res.contents.items() if v is not None and k != "raw_id"})
            if res.release is not None:
                frame.release = res.release
            context = FrameContext.from_json(res.context) if res.context is not None else None
            out.append(ResolvedFrame(raw_hash, part, frame, context, res.symbol_set_id))
        return out

    def resolve(self, project_id: int, raw: Mapping[str, Any]) -> Resolution:
        platform = platform_of(raw)
        raw_hash = platform.raw_id(raw)
        key = (project_id, raw_hash)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        resolved: list[ResolvedFrame] | None = None
        if platform.wants_symbols(raw):
            try:
                answer = self.symbols.resolve(project_id, raw)
            except Exception as exc:  # a broken symbol set must not lose the event: fall back, report it
                answer = None
                self.errors.append(f"symbol resolution failed: {type(exc).__name__}: {exc}"[:500])
            if answer:
                resolved = self._from_seam(list(answer), raw_hash)
        if resolved is None:
            resolved = platform.resolve(raw, raw_hash)
        for item in resolved:
            item.frame.raw_id = item.raw_id
        out = self._memo[key] = Resolution(resolved)
        return out

    def stack_frame_rows(
        self, replaced_ids: Mapping[uuid.UUID, uuid.UUID | None] | None = None
    ) -> list[dict[str, Any]]:
        """One row per resolved frame; `replaced_ids` (from `SymbolBatch.apply`) corrects symbol-set ids that another
        process created first or deleted meanwhile, so no row points at a symbol set that does not exist."""
        replaced = replaced_ids or {}
        rows = []
        for (project_id, _raw), resolved in self._memo.items():
            for item in resolved.items:
                symbol_set_id = item.symbol_set_id
                if symbol_set_id is not None and symbol_set_id in replaced:
                    symbol_set_id = replaced[symbol_set_id]
                rows.append(
                    {
                        "project_id": project_id,
                        "raw_id": item.raw_hash,
                        "part": item.part,
                        "contents": {**item.contents, "raw_id": item.raw_id},
                        "resolved": item.resolved,
                        "context": item.context,
                        "symbol_set_id": symbol_set_id,
                    }
                )
        return rows


def resolve_exceptions(
    resolver: FrameResolver, project_id: int, exceptions: Sequence[ExceptionEntry]
) -> list[ResolvedException]:
    """Each exception with its raw stack resolved (`stacktrace: {"type": "resolved", "frames": [Frame, ...]}`)."""
    out = []
    for exc in exceptions:
        if exc.raw_frames is None:
            out.append(ResolvedException(exc.json, []))
            continue
        frames: list[Frame] = []
        frames_json: list[dict[str, Any]] = []
        for raw in exc.raw_frames:
            resolution = resolver.resolve(project_id, raw)
            frames += resolution.frames
            jsons = [dict(j) for j in resolution.jsons]
            variables = code_variables(raw)
            if variables is not None and jsons:
                # This event's values, on the frame that ran (the last one when inlined calls expand it).
                jsons[-1]["code_variables"] = variables
            frames_json += jsons
        out.append(ResolvedException(exc.json, frames, frames_json, resolved_stack=True))
    return out


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def metadata(exceptions: Sequence[ResolvedException]) -> dict[str, Any]:
    """`$exception_types/_values/_sources/_functions/_handled` (spec §5.4); order = first appearance."""
    in_app = [f for exc in exceptions for f in exc.frames if f.in_app]
    mechanism = exceptions[0].json.get("mechanism") if exceptions else None
    handled = mechanism.get("handled") if isinstance(mechanism, dict) else None
    return {
        "$exception_types": _unique([e.json.get("type") for e in exceptions]),
        "$exception_values": _unique([e.json.get("value") for e in exceptions]),
        "$exception_sources": _unique([f.source for f in in_app]),
        "$exception_functions": _unique([f.resolved_name for f in in_app]),
        "$exception_handled": handled if isinstance(handled, bool) else False,
    }
