"""Bounded content decoding (`faultline.compression`, shared by capture and the source-map fetcher): same bytes out
as the reference libraries, in pieces no bigger than asked, stopping at the cap, whatever the chunking of the input;
strict or lenient about what follows the end of a stream. Capture's use of it: tests/ingest/test_decode.py and
test_fuzz.py; the fetcher's: tests/symbols/test_fetch_limits.py."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from faultline import compression

DATA = os.urandom(2000) * 40 + b"function validateCart(){}" * 2000
MIB = 1024 * 1024


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.compress,
}


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def decoded(codings: list[str], body: bytes, *, chunk: int = 4096, limit: int = 10 * MIB, piece: int = 8192) -> bytes:
    pieces = list(compression.decode(codings, chunked(body, chunk), limit=limit, piece=piece))
    # brotli's output buffer grows in blocks (32 KiB, then doubling) and stops once past the piece size.
    assert all(len(p) <= 2 * piece + 32 * 1024 for p in pieces)
    return b"".join(pieces)


@settings(max_examples=40, deadline=None)
@given(coding=st.sampled_from(sorted(ENCODERS)), chunk=st.integers(1, 70_000))
def test_round_trip_whatever_the_chunking(coding: str, chunk: int) -> None:
    assert decoded([coding], ENCODERS[coding](DATA), chunk=chunk) == DATA


def test_raw_deflate_and_stacked_codings() -> None:
    assert decoded(["deflate"], raw_deflate(DATA), chunk=1) == DATA
    assert decoded(["gzip", "br"], brotli.compress(gzip.compress(DATA))) == DATA
    assert decoded([], DATA) == DATA


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, []), ("", []), ("identity", []), ("GZIP", ["gzip"]), ("gzip, br", ["gzip", "br"]), ("x-gzip", ["x-gzip"])],
)
def test_content_encoding_header(header: str | None, expected: list[str]) -> None:
    assert compression.codings(header, max_codings=2) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [("compress", "unsupported Content-Encoding 'compress'"), ("gzip, gzip, gzip", "too many content encodings")],
)
def test_content_encodings_refused(header: str, message: str) -> None:
    with pytest.raises(compression.DecodeError, match=message):
        compression.codings(header, max_codings=2)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_bomb_stops_at_the_limit_in_bounded_memory(coding: str) -> None:
    body = ENCODERS[coding](b"\0" * (64 * MIB))
    tracemalloc.start()
    try:
        with pytest.raises(compression.TooLarge):
            for _ in compression.decode([coding], chunked(body, 65536), limit=MIB):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MIB, peak


def test_limit_edge() -> None:
    body = gzip.compress(b"a" * 1000)
    assert decoded(["gzip"], body, limit=1000) == b"a" * 1000
    with pytest.raises(compression.TooLarge):
        decoded(["gzip"], body, limit=999)
    with pytest.raises(compression.TooLarge):  # the raw body counts too
        decoded([], b"a" * 1001, limit=1000)


@pytest.mark.parametrize(
    ("coding", "body", "message"),
    [
        ("gzip", gzip.compress(DATA)[:-30], "truncated"),
        ("deflate", zlib.compress(DATA)[:-30], "truncated"),
        ("br", brotli.compress(DATA)[:-10], "truncated"),
        ("gzip", b"not gzip at all", "malformed"),
        ("br", b"\xff" * 40, "malformed br"),
        ("zstd", b"not zstd at all", "malformed zstd"),
    ],
)
def test_broken_bodies(coding: str, body: bytes, message: str) -> None:
    with pytest.raises(compression.DecodeError, match=message):
        decoded([coding], body)


def test_zstd_window_beyond_http_limit_is_refused() -> None:
    """RFC 9659: an HTTP zstd decoder may refuse windows over 8 MiB; we do, so a frame cannot ask for 2 GiB."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24)  # 16 MiB
    body = zstandard.ZstdCompressor(compression_params=params).compress(os.urandom(1024) * 20_000)
    with pytest.raises(compression.DecodeError, match="malformed zstd"):
        decoded(["zstd"], body, limit=100 * MIB)


# ---------------------------------------------------------------------------------------------------------------------
# What follows the end of a stream: strict (capture) or ignored (script hosts, like browsers)


def one_by_one(data: bytes) -> Iterator[bytes]:
    return chunked(data, 1)


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_gzip_members_and_zstd_frames_are_all_decoded_however_they_are_cut(chunk: int) -> None:
    gz = gzip.compress(b"first ") + gzip.compress(b"second")
    zs = zstandard.compress(b"first ") + zstandard.compress(b"second")
    for coding, body in (("gzip", gz), ("zstd", zs)):
        assert decoded([coding], body, chunk=chunk) == b"first second"
        assert b"".join(compression.decode([coding], chunked(body, chunk), limit=MIB, ignore_trailing=True)) == (
            b"first second"
        )


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zstd"])
def test_trailing_bytes_are_an_error_when_strict_and_ignored_when_asked(coding: str) -> None:
    body = ENCODERS[coding](b"payload") + b"\0junk"
    for chunk in (1, 2, 4096):
        with pytest.raises(compression.Malformed):
            decoded([coding], body, chunk=chunk)
        lenient = compression.decode([coding], chunked(body, chunk), limit=MIB, ignore_trailing=True)
        assert b"".join(lenient) == b"payload"


def test_one_trailing_byte_ends_with_an_error_not_a_loop() -> None:
    """The 140-byte body that once looped forever in capture: a whole gzip stream and one more byte."""
    body = gzip.compress(b'{"batch": []}' * 8) + b"\0"
    with pytest.raises(compression.Malformed, match="after the end"):
        compression.decode_all("gzip", body, limit=MIB)
    with pytest.raises(compression.Malformed, match="after the end"):
        list(compression.decode(["gzip"], one_by_one(body), limit=MIB))


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_parts_are_bounded(coding: str) -> None:
    encode = ENCODERS[coding]
    assert compression.decode_all(coding, encode(b"a") * compression.MAX_PARTS, limit=MIB) == b"a" * 16
    with pytest.raises(compression.Malformed, match=f"more than {compression.MAX_PARTS}"):
        compression.decode_all(coding, encode(b"a") * (compression.MAX_PARTS + 1), limit=MIB)


def test_decode_all_refuses_empty_and_truncated_input() -> None:
    for coding in ("gzip", "deflate", "zstd", "br"):
        with pytest.raises(compression.Malformed, match="truncated"):
            compression.decode_all(coding, b"", limit=MIB)
        with pytest.raises(compression.Malformed):
            compression.decode_all(coding, ENCODERS[coding](DATA)[:-8], limit=MIB)
    for coding in ("gzip", "deflate"):  # one byte: too short to tell the stream's kind, so cut short
        with pytest.raises(compression.Malformed, match="truncated"):
            list(compression.decode([coding], [b"\x1f"], limit=MIB))


@settings(max_examples=150, deadline=None)
@given(
    coding=st.sampled_from(["gzip", "deflate", "zstd", "br"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda prefix, tail: prefix + tail,
            st.sampled_from([b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd"]),
            st.binary(max_size=300),
        ),
        st.builds(
            lambda coding, data, cut, extra: ENCODERS[coding](data)[: cut or None] + extra,
            st.sampled_from(sorted(ENCODERS)),
            st.binary(max_size=2000),
            st.integers(-20, 0),
            st.binary(max_size=3),
        ),
    ),
    chunk=st.integers(1, 600),
    strict=st.booleans(),
)
def test_any_input_ends_in_output_or_a_decode_error_and_chunking_never_matters(
    coding: str, body: bytes, chunk: int, strict: bool
) -> None:
    """Whatever the bytes and however they are cut, decoding ends (no loop), stays under the limit, and streaming
    gives exactly what decoding all at once gives (the same output, or an error in both)."""

    def streamed() -> bytes:
        pieces = compression.decode([coding], chunked(body, chunk), limit=4096, ignore_trailing=not strict)
        return b"".join(pieces)

    def whole() -> bytes:
        return b"".join(compression.decode([coding], [body], limit=4096, ignore_trailing=not strict))

    try:
        expected: bytes | type[Exception] = whole()
    except compression.DecodeError as exc:
        expected = type(exc)
    if isinstance(expected, bytes):
        assert len(expected) <= 4096
        assert streamed() == expected
    else:
        with pytest.raises(compression.DecodeError):
            streamed()
