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

from symbolic import SourceMapCache, SymbolicError
from symbolic.proguard import ProguardMapper

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


def _sourcemap(payload: bytes) -> Parsed:
    pair = blobformat.parse_source_and_map(payload)
    try:
        cache = SourceMapCache.from_bytes(pair.source, pair.sourcemap)
    except SymbolicError as exc:
        raise Unusable(f"Invalid source map: {exc}") from None
    return Parsed(Kind.SOURCEMAP, cache, len(pair.source) + len(pair.sourcemap))


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


def parse(blob: bytes, kind: Kind) -> Parsed:
    try:
        data = blobformat.read(blob)
        if data.type not in _ACCEPTS[kind]:
            raise Unusable(f"This symbol set holds {_describe(data.type)} data, but the frame needs {_WANTED[kind]}")
        if kind is Kind.SOURCEMAP:
            return _sourcemap(data.payload)
        if kind is Kind.HERMES:
            return _hermes(data)
        return _proguard(data.payload)
    except BlobFormatError as exc:
        raise Unusable(str(exc)) from None
