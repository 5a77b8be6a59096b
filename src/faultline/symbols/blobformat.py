"""The symbol-data container posthog-cli uploads (and that we write for source maps fetched from the web).

Layout: the 22-byte magic `posthog_error_tracking`, a u32 LE version, a u32 LE data type, then — version 2 only —
one compression byte (0 none, 1 zstd), then the payload. Version 1 is the older server-side "JS data" layout with
no compression byte. Anything we cannot read becomes a `BlobFormatError` whose message ends up, verbatim, in the
symbol set's `failure_reason` and in each affected frame's `resolve_failure`, so it has to make sense to a person
who only uploaded a file.
"""

from __future__ import annotations

import enum
import io
import struct
from dataclasses import dataclass

import zstandard

MAGIC = b"posthog_error_tracking"
V1 = 1
V2 = 2
_V1_HEADER = len(MAGIC) + 8
_V2_HEADER = len(MAGIC) + 9

# A 100 MiB upload of highly repetitive source maps can legitimately inflate a lot, but not without bound.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024


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


@dataclass(frozen=True)
class SymbolData:
    version: int
    type: DataType
    payload: bytes


@dataclass(frozen=True)
class SourceAndMap:
    source: bytes
    sourcemap: bytes


def _decompress(payload: bytes, limit: int) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload), read_across_frames=True)
    out = io.BytesIO()
    try:
        while True:
            chunk = reader.read(1024 * 1024)
            if not chunk:
                break
            out.write(chunk)
            if out.tell() > limit:
                raise BlobFormatError(f"Symbol data inflates past {limit // (1024 * 1024)} MiB")
    except zstandard.ZstdError as exc:
        raise BlobFormatError(f"Symbol data is not valid zstd: {exc}") from None
    return out.getvalue()


def read(blob: bytes, *, max_decompressed: int = MAX_DECOMPRESSED_BYTES) -> SymbolData:
    """Parse the container header and return the (decompressed) payload."""
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
    payload = blob[header:]
    if version == V2:
        compression = blob[header - 1]
        if compression == 1:
            payload = _decompress(payload, max_decompressed)
        elif compression != 0:
            raise BlobFormatError(f"Unknown symbol data compression {compression} (expected 0 or 1)")
    return SymbolData(version=version, type=data_type, payload=payload)


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
