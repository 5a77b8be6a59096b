"""The symbol-data container posthog-cli uploads (and that we write for source maps fetched from the web).

Layout: the 22-byte magic `posthog_error_tracking`, a u32 LE version, a u32 LE data type, then — version 2 only —
one compression byte (0 none, 1 zstd), then the payload. Version 1 is the older server-side "JS data" layout with
no compression byte. Anything we cannot read becomes a `BlobFormatError` whose message ends up, verbatim, in the
symbol set's `failure_reason` and in each affected frame's `resolve_failure`, so it has to make sense to a person
who only uploaded a file.

A 14 KB upload can hold a zstd stream of a 450 MB source map, so the decompressed size is capped wherever contents
are read (FAULTLINE_SYMBOL_SET_MAX_BYTES): `check_contents` measures it at upload without keeping the output, and
`read` refuses at load — from the size the zstd frame declares when it does, else by stopping at the limit.
"""

from __future__ import annotations

import enum
import io
import struct
from dataclasses import dataclass
from typing import IO

import zstandard

MAGIC = b"posthog_error_tracking"
V1 = 1
V2 = 2
_V1_HEADER = len(MAGIC) + 8
_V2_HEADER = len(MAGIC) + 9

# The default of FAULTLINE_SYMBOL_SET_MAX_BYTES; callers pass the configured value.
MAX_DECOMPRESSED_BYTES = 100 * 1024 * 1024
_PIECE = 1024 * 1024


class DataType(enum.IntEnum):
    SOURCE_AND_MAP = 2
    HERMES_MAP = 3
    PROGUARD_MAPPING = 4
    APPLE_DSYM = 5
    ELF_DEBUG_INFO = 6


# In version 1 the value 3 meant a serialized Rust SourceMapCache, which only the Rust library can read.
V1_SERIALIZED_SOURCEMAP_CACHE = 3

TYPE_LABELS = {
    DataType.SOURCE_AND_MAP: "JavaScript source and source map",
    DataType.HERMES_MAP: "Hermes source map",
    DataType.PROGUARD_MAPPING: "ProGuard mapping",
    DataType.APPLE_DSYM: "Apple dSYM",
    DataType.ELF_DEBUG_INFO: "ELF debug info",
}


class BlobFormatError(ValueError):
    """The bytes are not a symbol-data container we can use; the message is shown to users."""


class ContentsTooLarge(BlobFormatError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Symbol data inflates past the {limit}-byte limit (FAULTLINE_SYMBOL_SET_MAX_BYTES); split the bundle or "
            "raise the limit"
        )
        self.limit = limit


@dataclass(frozen=True)
class Header:
    version: int
    type: DataType
    size: int  # bytes before the payload
    compressed: bool


@dataclass(frozen=True)
class SymbolData:
    version: int
    type: DataType
    payload: bytes


@dataclass(frozen=True)
class SourceAndMap:
    source: bytes
    sourcemap: bytes


def _inflate(source: bytes | IO[bytes], limit: int, keep: bool) -> tuple[list[bytes], int]:
    """Decompress at most `limit` bytes (`ContentsTooLarge` past it), `_PIECE` at a time; the pieces are only
    kept when asked. A first frame that declares a size over the limit is refused before any work."""
    if isinstance(source, bytes):
        try:
            declared = zstandard.frame_content_size(source)
        except zstandard.ZstdError:
            declared = -1  # not even a frame header: the reader below says why
        if declared > limit:
            raise ContentsTooLarge(limit)
    pieces: list[bytes] = []
    total = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        while True:
            piece = reader.read(_PIECE)
            if not piece:
                break
            total += len(piece)
            if total > limit:
                raise ContentsTooLarge(limit)
            if keep:
                pieces.append(piece)
    except zstandard.ZstdError as exc:
        raise BlobFormatError(f"Symbol data is not valid zstd: {exc}") from None
    return pieces, total


def read_header(blob: bytes) -> Header:
    """The container header alone (magic, version, type, compression); the payload starts at `size`."""
    if len(blob) < len(MAGIC) + 4 or not blob.startswith(MAGIC):
        raise BlobFormatError(
            "Unsupported symbol set format: expected a posthog-cli symbol-data file "
            "(it must start with 'posthog_error_tracking')"
        )
    (version,) = struct.unpack_from("<I", blob, len(MAGIC))
    if version not in (V1, V2):
        raise BlobFormatError(f"Unsupported symbol data version {version} (this server reads versions 1 and 2)")
    header = _V1_HEADER if version == V1 else _V2_HEADER
    if len(blob) < header:
        raise BlobFormatError("Symbol data is truncated: the header is incomplete")
    (raw_type,) = struct.unpack_from("<I", blob, len(MAGIC) + 4)
    if version == V1 and raw_type == V1_SERIALIZED_SOURCEMAP_CACHE:
        raise BlobFormatError(
            "Unsupported symbol data: version 1 pre-built source-map caches cannot be read; "
            "re-upload with a current posthog-cli"
        )
    try:
        data_type = DataType(raw_type)
    except ValueError:
        raise BlobFormatError(f"Unknown symbol data type {raw_type}") from None
    compressed = False
    if version == V2:
        compression = blob[header - 1]
        if compression not in (0, 1):
            raise BlobFormatError(f"Unknown symbol data compression {compression} (expected 0 or 1)")
        compressed = compression == 1
    return Header(version=version, type=data_type, size=header, compressed=compressed)


def read(blob: bytes, *, max_decompressed: int = MAX_DECOMPRESSED_BYTES) -> SymbolData:
    """Parse the container header and return the (decompressed) payload, refused past `max_decompressed`."""
    header = read_header(blob)
    payload = blob[header.size :]
    if header.compressed:
        pieces, _ = _inflate(payload, max_decompressed, keep=True)
        payload = b"".join(pieces)
    elif len(payload) > max_decompressed:
        raise ContentsTooLarge(max_decompressed)
    return SymbolData(version=header.version, type=header.type, payload=payload)


def stored_size_bound(limit: int) -> int:
    """The largest container whose contents can still fit in `limit` bytes: zstd never grows data by more than
    1/256 plus a small constant, so anything bigger stored is refused without being read."""
    return _V2_HEADER + limit + limit // 256 + 128 * 1024


def check_contents(source: bytes | IO[bytes], limit: int) -> Header:
    """Measure a container's decompressed size without keeping it (for uploads): `ContentsTooLarge` past
    `limit`, `BlobFormatError` for anything unreadable. A file is read from its current position."""
    if isinstance(source, bytes):
        head, rest = source[:_V2_HEADER], None
    else:
        head, rest = source.read(_V2_HEADER), source
    header = read_header(head)
    if isinstance(source, bytes):
        payload: bytes | IO[bytes] = source[header.size :]
    else:
        assert rest is not None
        rest.seek(header.size - len(head), io.SEEK_CUR)
        payload = rest
    if header.compressed:
        _inflate(payload, limit, keep=False)
    else:
        if isinstance(payload, bytes):
            size = len(payload)
        else:
            here = payload.tell()
            size = payload.seek(0, io.SEEK_END) - here
        if size > limit:
            raise ContentsTooLarge(limit)
    return header


def write(data_type: DataType, payload: bytes, *, compress: bool = True) -> bytes:
    """Build a version-2 container (what the current posthog-cli writes)."""
    body = zstandard.ZstdCompressor(level=3).compress(payload) if compress else payload
    return MAGIC + struct.pack("<IIB", V2, int(data_type), 1 if compress else 0) + body


def parse_source_and_map(payload: bytes) -> SourceAndMap:
    """`u64 LE length + minified source + u64 LE length + source map JSON`, nothing after."""
    try:
        (source_len,) = struct.unpack_from("<Q", payload, 0)
        source_end = 8 + source_len
        if source_end > len(payload):
            raise BlobFormatError("Invalid source and map: the minified source is truncated")
        (map_len,) = struct.unpack_from("<Q", payload, source_end)
    except struct.error:
        raise BlobFormatError("Invalid source and map: truncated length prefix") from None
    map_start = source_end + 8
    map_end = map_start + map_len
    if map_end > len(payload):
        raise BlobFormatError("Invalid source and map: the source map is truncated")
    if map_end != len(payload):
        raise BlobFormatError("Invalid source and map: unexpected bytes after the source map")
    return SourceAndMap(source=payload[8:source_end], sourcemap=payload[map_start:map_end])


def encode_source_and_map(source: bytes, sourcemap: bytes) -> bytes:
    return struct.pack("<Q", len(source)) + source + struct.pack("<Q", len(sourcemap)) + sourcemap
