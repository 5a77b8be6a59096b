"""Turn a stored symbol-set blob into the object frames are looked up in.

One kind per platform family: a `symbolic.SourceMapCache` for browser and Node JavaScript (built from the minified
source *and* the map, which is what gives original function names), a `HermesMap` for React Native and a
`symbolic.ProguardMapper` for Java/Android. Each comes with a byte size for the cache budget. A blob that cannot
serve the requested platform raises `Unusable` with a message for the user.
"""

from __future__ import annotations

import enum
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import orjson
from symbolic import SourceMapCache, SymbolicError
from symbolic.proguard import ProguardMapper

from faultline.platforms import _common as frames
from faultline.protocol import FrameContext
from faultline.symbols import blobformat
from faultline.symbols.blobformat import BlobFormatError, DataType
from faultline.symbols.hermes import HermesMap


class Kind(enum.Enum):
    SOURCEMAP = "sourcemap"
    HERMES = "hermes"
    PROGUARD = "proguard"


class Unusable(Exception):
    """The symbol set exists but cannot resolve frames of this kind; `str(exc)` is shown to users."""


@dataclass
class Parsed:
    kind: Kind
    value: Any
    size: int


def _describe(data_type: DataType) -> str:
    return blobformat.TYPE_LABELS.get(data_type, f"type {int(data_type)}")


class JsSourceMap:
    """A `SourceMapCache` plus the map's `sourcesContent`, for context lines.

    Asking symbolic for 31 context lines per lookup costs more than the lookup itself (every line crosses the FFI
    and is decoded again for every frame), so context comes from the original sources instead, split and clipped
    once per source on first use. Sources we cannot match by name fall back to symbolic's own context.
    """

    def __init__(self, cache: SourceMapCache, sources: dict[str, str]) -> None:
        self.cache = cache
        self._sources = sources
        self._lines: dict[str, list[str]] = {}

    def lookup(self, line: int, column: int) -> tuple[Any, FrameContext | None]:
        token = self.cache.lookup(line, column, 0)
        if token is None or token.src is None:
            return None, None
        lines = self._lines.get(token.src)
        if lines is None and token.src in self._sources:
            lines = [frames.clip(text) for text in self._sources[token.src].splitlines()]
            self._lines[token.src] = lines
        if lines is not None:
            return token, frames.context_from_lines(lines, token.line, clipped=True)
        full = self.cache.lookup(line, column, frames.CONTEXT_LINES)
        if full is None:
            return token, None
        return token, frames.context_from(full.line, full.context_line, full.pre_context, full.post_context)


def _sources_content(sourcemap: bytes) -> dict[str, str]:
    try:
        raw = orjson.loads(sourcemap)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    names, contents = raw.get("sources"), raw.get("sourcesContent")
    if not isinstance(names, list) or not isinstance(contents, list):
        return {}
    return {n: c for n, c in zip(names, contents, strict=False) if isinstance(n, str) and isinstance(c, str)}


def _sourcemap(payload: bytes) -> Parsed:
    pair = blobformat.parse_source_and_map(payload)
    try:
        cache = SourceMapCache.from_bytes(pair.source, pair.sourcemap)
    except SymbolicError as exc:
        raise Unusable(f"Invalid source map: {exc}") from None
    js = JsSourceMap(cache, _sources_content(pair.sourcemap))
    return Parsed(Kind.SOURCEMAP, js, len(pair.source) + 2 * len(pair.sourcemap))


def _hermes(data: blobformat.SymbolData) -> Parsed:
    sourcemap = data.payload
    if data.type == DataType.SOURCE_AND_MAP:
        sourcemap = blobformat.parse_source_and_map(data.payload).sourcemap
    try:
        hermes = HermesMap(sourcemap)
    except (SymbolicError, ValueError) as exc:
        raise Unusable(f"Invalid map: {exc}") from None
    return Parsed(Kind.HERMES, hermes, len(sourcemap) * 2)


def _proguard(payload: bytes) -> Parsed:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusable("Invalid mapping: a ProGuard mapping must be UTF-8 text") from None
    # symbolic opens mappings by path only; the mapper keeps what it needs after we remove the file.
    fd, path = tempfile.mkstemp(prefix="faultline-proguard-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        mapper = ProguardMapper.open(path)
    except SymbolicError as exc:
        raise Unusable(f"Invalid mapping: {exc}") from None
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return Parsed(Kind.PROGUARD, mapper, len(payload))


_ACCEPTS = {
    Kind.SOURCEMAP: (DataType.SOURCE_AND_MAP,),
    Kind.HERMES: (DataType.HERMES_MAP, DataType.SOURCE_AND_MAP),
    Kind.PROGUARD: (DataType.PROGUARD_MAPPING,),
}
_WANTED = {
    Kind.SOURCEMAP: "a JavaScript source and source map",
    Kind.HERMES: "a Hermes source map",
    Kind.PROGUARD: "a ProGuard mapping",
}


def parse(blob: bytes, kind: Kind, *, max_bytes: int = blobformat.MAX_DECOMPRESSED_BYTES) -> Parsed:
    """`max_bytes` caps the decompressed contents (FAULTLINE_SYMBOL_SET_MAX_BYTES): nothing bigger is built."""
    try:
        data = blobformat.read(blob, max_decompressed=max_bytes)
        if data.type not in _ACCEPTS[kind]:
            raise Unusable(f"This symbol set holds {_describe(data.type)} data, but the frame needs {_WANTED[kind]}")
        if kind is Kind.SOURCEMAP:
            return _sourcemap(data.payload)
        if kind is Kind.HERMES:
            return _hermes(data)
        return _proguard(data.payload)
    except BlobFormatError as exc:
        raise Unusable(str(exc)) from None
