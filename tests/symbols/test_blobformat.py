"""The symbol-data container: the shared sample (written by an independent implementation) and every rejection."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import zstandard

from faultline.symbols import blobformat
from faultline.symbols.blobformat import MAGIC, BlobFormatError, DataType

SAMPLES = Path("/work/shared/samples")


def test_reads_the_sample_v2_zstd_source_and_map() -> None:
    data = blobformat.read((SAMPLES / "posthog_symbol_set_sourceandmap_v2.bin").read_bytes())
    assert (data.version, data.type) == (2, DataType.SOURCE_AND_MAP)
    pair = blobformat.parse_source_and_map(data.payload)
    assert pair.source == (SAMPLES / "js_bundle/app.injected.js").read_bytes()
    assert pair.sourcemap == (SAMPLES / "js_bundle/app.injected.js.map").read_bytes()


@pytest.mark.parametrize("compress", [True, False])
def test_v2_round_trip(compress: bool) -> None:
    payload = blobformat.encode_source_and_map(b"minified();", b'{"version":3}')
    blob = blobformat.write(DataType.SOURCE_AND_MAP, payload, compress=compress)
    assert blob[len(MAGIC) + 8] == (1 if compress else 0)
    assert blobformat.read(blob).payload == payload


def test_v1_has_no_compression_byte() -> None:
    payload = blobformat.encode_source_and_map(b"a", b"{}")
    blob = MAGIC + struct.pack("<II", 1, 2) + payload
    data = blobformat.read(blob)
    assert (data.version, data.type, data.payload) == (1, DataType.SOURCE_AND_MAP, payload)


def test_hermes_and_proguard_types_are_recognised() -> None:
    assert blobformat.read(blobformat.write(DataType.HERMES_MAP, b"{}")).type == DataType.HERMES_MAP
    assert blobformat.read(blobformat.write(DataType.PROGUARD_MAPPING, b"a -> b:")).type == DataType.PROGUARD_MAPPING


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "must start with 'posthog_error_tracking'"),
        (b'{"version": 3, "sources": []}', "must start with 'posthog_error_tracking'"),
        (MAGIC + struct.pack("<I", 7) + b"\0" * 5, "Unsupported symbol data version 7"),
        (MAGIC + struct.pack("<I", 2) + b"\0\0", "header is incomplete"),
        (MAGIC + struct.pack("<IIB", 2, 99, 0), "Unknown symbol data type 99"),
        (MAGIC + struct.pack("<IIB", 2, 2, 7), "Unknown symbol data compression 7"),
        (MAGIC + struct.pack("<II", 1, 3) + b"cache", "version 1 pre-built source-map caches cannot be read"),
        (MAGIC + struct.pack("<IIB", 2, 2, 1) + b"not zstd at all", "not valid zstd"),
    ],
)
def test_rejections_say_why(blob: bytes, message: str) -> None:
    with pytest.raises(BlobFormatError, match=message):
        blobformat.read(blob)


def test_decompression_is_bounded() -> None:
    bomb = MAGIC + struct.pack("<IIB", 2, 2, 1) + zstandard.ZstdCompressor().compress(b"\0" * (4 * 1024 * 1024))
    with pytest.raises(BlobFormatError, match="inflates past"):
        blobformat.read(bomb, max_decompressed=1024 * 1024)
    assert len(blobformat.read(bomb).payload) == 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x01", "truncated length prefix"),
        (struct.pack("<Q", 100) + b"short", "minified source is truncated"),
        (struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 50) + b"{}", "source map is truncated"),
        (blobformat.encode_source_and_map(b"a", b"{}") + b"junk", "unexpected bytes after the source map"),
    ],
)
def test_source_and_map_payload_rejections(payload: bytes, message: str) -> None:
    with pytest.raises(BlobFormatError, match=message):
        blobformat.parse_source_and_map(payload)
