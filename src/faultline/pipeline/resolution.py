"""Stage 1 (spec §5.3–§5.4): resolve every raw frame, turn raw stacks into resolved ones, compute metadata.

Frames are resolved once per (project, raw id) per batch: the same frame in a hundred events of one batch costs
one resolution. The batch's `SymbolBatch` (seam) is asked first for frames that carry symbol references; when it
answers None the built-in per-platform treatment applies. Resolution happens before the write transaction (see
`SymbolBatch`), so nothing here writes: the stack-frame rows are handed to the caller to store.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from faultline.pipeline import frames as fr
from faultline.pipeline.seams import FrameResolution, SymbolBatch


class FrameResolver:
    """Per-batch memo of raw frame → resolved frames, plus the stack-frame rows to upsert."""

    def __init__(self, symbols: SymbolBatch) -> None:
        self.symbols = symbols
        self._memo: dict[tuple[int, str], list[fr.ResolvedFrame]] = {}
        self.errors: list[str] = []

    def _from_seam(self, results: list[FrameResolution], raw_hash: str) -> list[fr.ResolvedFrame]:
        out = []
        for part, res in enumerate(results):
            contents = {k: v for k, v in dict(res.contents).items() if v is not None and k != "raw_id"}
            if res.release is not None:
                contents["release"] = res.release
            out.append(fr.ResolvedFrame(raw_hash, part, contents, res.context, res.symbol_set_id))
        return out

    def resolve(self, project_id: int, frame: Mapping[str, Any]) -> list[fr.ResolvedFrame]:
        platform = fr.platform_of(frame)
        raw_hash = platform.raw_id(frame)
        key = (project_id, raw_hash)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        resolved: list[fr.ResolvedFrame] | None = None
        if platform.wants_symbols(frame):
            try:
                answer = self.symbols.resolve(project_id, frame)
            except Exception as exc:  # a broken symbol set must not lose the event: fall back, report it
                answer = None
                self.errors.append(f"symbol resolution failed: {type(exc).__name__}: {exc}"[:500])
            if answer:
                resolved = self._from_seam(list(answer), raw_hash)
        if resolved is None:
            resolved = platform.resolve(frame, raw_hash)
        self._memo[key] = resolved
        return resolved

    def stack_frame_rows(
        self, replaced_ids: Mapping[uuid.UUID, uuid.UUID | None] | None = None
    ) -> list[dict[str, Any]]:
        """One row per resolved frame; `replaced_ids` (from `SymbolBatch.apply`) corrects symbol-set ids that another
        process created first or deleted meanwhile, so no row points at a symbol set that does not exist."""
        replaced = replaced_ids or {}
        rows = []
        for (project_id, _raw), resolved in self._memo.items():
            for frame in resolved:
                symbol_set_id = frame.symbol_set_id
                if symbol_set_id is not None and symbol_set_id in replaced:
                    symbol_set_id = replaced[symbol_set_id]
                rows.append(
                    {
                        "project_id": project_id,
                        "raw_id": frame.raw_hash,
                        "part": frame.part,
                        "contents": {**frame.contents, "raw_id": frame.raw_id},
                        "resolved": frame.resolved,
                        "context": frame.context,
                        "symbol_set_id": symbol_set_id,
                    }
                )
        return rows


def resolve_exceptions(
    resolver: FrameResolver, project_id: int, exceptions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Exceptions with `stacktrace: {"type": "resolved", "frames": [Frame, ...]}` (each with its `raw_id`)."""
    out = []
    for exc in exceptions:
        stack = exc.get("stacktrace")
        if not isinstance(stack, dict):
            out.append(exc)
            continue
        resolved_frames: list[dict[str, Any]] = []
        for raw in stack.get("frames") or []:
            for frame in resolver.resolve(project_id, raw):
                resolved_frames.append({"raw_id": frame.raw_id, **frame.contents})
        out.append({**exc, "stacktrace": {"type": "resolved", "frames": resolved_frames}})
    return out


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def metadata(exceptions: list[dict[str, Any]]) -> dict[str, Any]:
    """`$exception_types/_values/_sources/_functions/_handled` (spec §5.4); order = first appearance."""
    in_app: list[dict[str, Any]] = []
    for exc in exceptions:
        stack = exc.get("stacktrace")
        if isinstance(stack, dict):
            in_app += [f for f in stack.get("frames") or [] if f.get("in_app")]
    mechanism = exceptions[0].get("mechanism") if exceptions else None
    handled = mechanism.get("handled") if isinstance(mechanism, dict) else None
    return {
        "$exception_types": _unique([e.get("type") for e in exceptions]),
        "$exception_values": _unique([e.get("value") for e in exceptions]),
        "$exception_sources": _unique([f.get("source") for f in in_app]),
        "$exception_functions": _unique([f.get("resolved_name") for f in in_app]),
        "$exception_handled": handled if isinstance(handled, bool) else False,
    }
