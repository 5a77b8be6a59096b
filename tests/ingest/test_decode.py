"""Body decoding: every encoding SDKs use, and caps that make decompression bombs cheap to refuse."""

from __future__ import annotations

import base64
import gzip
import zlib
from urllib.parse import quote

import brotli
import pytest
import zstandard

from faultline.http.errors import APIError
from faultline.ingest.decode import decode_body

DOC = b'{"api_key":"phc_x","batch":[{"event":"$exception"}]}'
LIMIT = 1024 * 1024


def decode(
    body: bytes,
    *,
    encoding: str | None = None,
    ctype: str | None = None,
    compression: str | None = None,
    limit: int = LIMIT,
) -> bytes:
    return decode_body(
        body, content_encoding=encoding, content_type=ctype, compression=compression, max_decompressed_bytes=limit
    )


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(DOC), "gzip"),
        (gzip.compress(DOC), "x-gzip"),
        (zlib.compress(DOC), "deflate"),
        (zlib.compress(DOC)[2:-4], "deflate"),  # raw deflate, as some clients send it
        (zstandard.ZstdCompressor().compress(DOC), "zstd"),
        (brotli.compress(DOC), "br"),
        (DOC, "identity"),
        (gzip.compress(zlib.compress(DOC)), "deflate, gzip"),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "zstd", "br", "identity", "stacked"],
)
def test_content_encodings(body: bytes, encoding: str) -> None:
    assert decode(body, encoding=encoding) == DOC


def test_gzip_magic_without_any_header_is_gzip_js() -> None:
    assert decode(gzip.compress(DOC, mtime=0), ctype="text/plain") == DOC
    assert decode(gzip.compress(DOC), compression="gzip-js") == DOC


def test_base64_form_bodies() -> None:
    encoded = base64.b64encode(DOC).decode()
    assert (
        decode(f"data={quote(encoded)}".encode(), ctype="application/x-www-form-urlencoded", compression="base64")
        == DOC
    )
    assert decode(encoded.encode(), compression="base64") == DOC
    assert decode(b"data=" + quote(DOC.decode()).encode(), ctype="application/x-www-form-urlencoded") == DOC
    assert decode(f"ver=1&data={quote(encoded)}".encode(), ctype="application/x-www-form-urlencoded") == DOC
    assert decode(DOC, ctype="application/x-www-form-urlencoded") == DOC  # mislabelled JSON


def test_concatenated_gzip_members() -> None:
    assert decode(gzip.compress(DOC[:10]) + gzip.compress(DOC[10:]), encoding="gzip") == DOC


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(b"\0" * (8 * 1024 * 1024)), "gzip"),
        (zlib.compress(b"\0" * (8 * 1024 * 1024)), "deflate"),
        (zstandard.ZstdCompressor().compress(b"\0" * (8 * 1024 * 1024)), "zstd"),
        (brotli.compress(b"\0" * (8 * 1024 * 1024)), "br"),
        (gzip.compress(b"\0" * (8 * 1024 * 1024)), None),
    ],
    ids=["gzip", "deflate", "zstd", "br", "gzip-magic"],
)
def test_bombs_stop_at_the_cap(body: bytes, encoding: str | None) -> None:
    assert len(body) < 300 * 1024
    with pytest.raises(APIError) as info:
        decode(body, encoding=encoding, limit=LIMIT)
    assert info.value.status_code == 413 and info.value.code == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(DOC)[:-10], "gzip"),
        (b"\x1f\x8bnot really gzip", None),
        (b"plainly not zlib", "deflate"),
        (zstandard.ZstdCompressor().compress(DOC)[:-3], "zstd"),
        (b"not brotli at all", "br"),
        (brotli.compress(DOC * 50)[:-5], "br"),
    ],
    ids=["gzip", "fake-gzip", "deflate", "zstd", "br-garbage", "br-truncated"],
)
def test_truncated_or_corrupt_streams_are_400(body: bytes, encoding: str | None) -> None:
    with pytest.raises(APIError) as info:
        decode(body, encoding=encoding)
    assert info.value.status_code == 400


def test_unknown_encodings_are_415() -> None:
    with pytest.raises(APIError) as info:
        decode(DOC, encoding="compress")
    assert info.value.status_code == 415
    with pytest.raises(APIError) as info:
        decode(DOC, compression="lz64")
    assert info.value.status_code == 415
