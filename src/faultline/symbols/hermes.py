"""React Native / Hermes source maps.

Hermes stack frames carry a bytecode offset in `colno` on line 1; the composed source map (Metro + hermesc) maps that
offset back to the original file. Minified names are useless here, so the enclosing function's name comes from the
Metro "function map" extension: `x_facebook_sources[source_index][0] = {"names": [...], "mappings": "..."}` where
each VLQ segment is (column delta, name-index delta[, line delta]); columns restart at every `;`, name indexes and
lines (1-based) carry on. The name of a position is the last function-map entry at or before it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import orjson
from symbolic import SourceMapView

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def decode_vlq(segment: str) -> list[int]:
    """Base64 VLQ numbers of one source-map segment; raises ValueError on malformed input."""
    values: list[int] = []
    shift = 0
    value = 0
    for char in segment:
        digit = _B64.get(char)
        if digit is None:
            raise ValueError(f"invalid VLQ character {char!r}")
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            if shift > 60:
                raise ValueError("VLQ value too large")
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = 0
        shift = 0
    if shift:
        raise ValueError("truncated VLQ segment")
    return values


@dataclass
class FunctionMap:
    names: list[str]
    positions: list[tuple[int, int]]  # (line 1-based, column 0-based), sorted
    name_indexes: list[int]

    def name_at(self, line: int, column: int) -> str | None:
        index = bisect.bisect_right(self.positions, (line, column)) - 1
        if index < 0:
            return None
        name_index = self.name_indexes[index]
        return self.names[name_index] if 0 <= name_index < len(self.names) else None


def parse_function_map(entry: Any) -> FunctionMap | None:
    if not isinstance(entry, list) or not entry or not isinstance(entry[0], dict):
        return None
    names = entry[0].get("names")
    mappings = entry[0].get("mappings")
    if not isinstance(names, list) or not isinstance(mappings, str):
        return None
    entries: list[tuple[int, int, int]] = []
    line, name_index = 1, 0
    try:
        for line_mappings in mappings.split(";"):
            column = 0
            for segment in line_mappings.split(","):
                if not segment:
                    continue
                numbers = decode_vlq(segment)
                if not numbers:
                    continue
                column += numbers[0]
                name_index += numbers[1] if len(numbers) > 1 else 0
                line += numbers[2] if len(numbers) > 2 else 0
                entries.append((line, column, name_index))
    except ValueError:
        return None
    entries.sort()
    return FunctionMap(
        names=[str(n) for n in names],
        positions=[(e[0], e[1]) for e in entries],
        name_indexes=[e[2] for e in entries],
    )


@dataclass
class HermesToken:
    source: str | None
    line: int  # 1-based
    column: int  # 1-based
    function_name: str | None
    source_index: int


class HermesMap:
    """A parsed Hermes source map: token lookup by bytecode offset plus function names and source context."""

    def __init__(self, sourcemap: bytes) -> None:
        self.view = SourceMapView.from_json_bytes(sourcemap)
        try:
            raw = orjson.loads(sourcemap)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"Invalid map: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("Invalid map: not a JSON object")
        fb_sources = raw.get("x_facebook_sources")
        self.function_maps: list[FunctionMap | None] = (
            [parse_function_map(entry) for entry in fb_sources] if isinstance(fb_sources, list) else []
        )
        self._source_lines: dict[int, list[str]] = {}

    def lookup(self, column: int) -> HermesToken | None:
        match = self.view.lookup(0, column)
        if match is None or match.src is None or match.src_line == 0xFFFFFFFF:
            return None
        line, col = match.src_line + 1, match.src_col
        name = None
        if 0 <= match.src_id < len(self.function_maps):
            function_map = self.function_maps[match.src_id]
            if function_map is not None:
                name = function_map.name_at(line, col)
        return HermesToken(source=match.src, line=line, column=col + 1, function_name=name, source_index=match.src_id)

    def source_lines(self, index: int) -> list[str] | None:
        if index not in self._source_lines:
            contents = self.view.get_source_contents(index)
            if contents is None:
                return None
            self._source_lines[index] = contents.splitlines()
        return self._source_lines[index]
