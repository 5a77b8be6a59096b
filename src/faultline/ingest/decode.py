"""Turn a capture request body into JSON bytes, whatever encoding the SDK chose, without trusting its size.

SDKs disagree about how they say a body is compressed (sdk-wire-formats.md TL;DR §3): a `Content-Encoding`
header (posthog-python, V1), a `?compression=` query parameter (older posthog-js), nothing at all but gzip magic
bytes under `text/plain` (posthog-js 1.449 gzip-js), or a urlencoded form `data=<base64>` (sendBeacon). Every
inflater here is incremental and stops as soon as the output passes the configured cap, so a 1 KB gzip bomb costs
at most `max_decompressed_bytes` of memory before it is refused with 413.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import brotli
import zstandard

from faultline.http import errors

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 64 * 1024


def _too_large(limit: int) -> errors.APIError:
    return errors.payload_too_large(f"Request body decompresses to more than {limit} bytes.")


def _inflate_zlib(data: bytes, wbits: int, limit: int, name: str) -> bytes:
    """zlib/gzip/raw-deflate with bounded output; concatenated gzip members are honoured like gzip.decompress."""
    out = bytearray()
    remaining = data
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            buf = remaining
            while buf:
                out += inflater.decompress(buf, _CHUNK)
                if len(out) > limit:
                    raise _too_large(limit)
                buf = inflater.unconsumed_tail
            while not inflater.eof:
                piece = inflater.decompress(b"", _CHUNK)
                if not piece:
                    break
                out += piece
                if len(out) > limit:
                    raise _too_large(limit)
        except zlib.error as exc:
            raise errors.parse_error(f"Malformed {name} body: {exc}") from None
        if not inflater.eof:
            raise errors.parse_error(f"Malformed {name} body: truncated stream")
        remaining = inflater.unused_data
        # Another gzip member may follow; trailing garbage after a complete stream is ignored, as gzip(1) does.
        if wbits < 16 or not remaining.startswith(GZIP_MAGIC):
            return bytes(out)


def gunzip(data: bytes, limit: int) -> bytes:
    return _inflate_zlib(data, 16 + zlib.MAX_WBITS, limit, "gzip")


def inflate(data: bytes, limit: int) -> bytes:
    """HTTP `deflate` is zlib-wrapped (RFC 1950) but some clients send raw deflate: accept both."""
    if data[:1] and (data[0] & 0x0F) == 8 and len(data) > 1 and ((data[0] << 8) | data[1]) % 31 == 0:
        return _inflate_zlib(data, zlib.MAX_WBITS, limit, "deflate")
    return _inflate_zlib(data, -zlib.MAX_WBITS, limit, "deflate")


def unzstd(data: bytes, limit: int) -> bytes:
    """Read through a bounded stream first (a bomb stops at the cap), then check the frame really ended: the
    stream reader returns a truncated frame's partial output without complaint."""
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
        while True:
            piece = reader.read(_CHUNK)
            if not piece:
                break
            out += piece
            if len(out) > limit:
                raise _too_large(limit)
        checker = zstandard.ZstdDecompressor().decompressobj()
        checker.decompress(data)
        if not checker.eof:
            raise errors.parse_error("Malformed zstd body: truncated stream")
    except zstandard.ZstdError as exc:
        raise errors.parse_error(f"Malformed zstd body: {exc}") from None
    return bytes(out)


def unbrotli(data: bytes, limit: int) -> bytes:
    out = bytearray()
    decompressor = brotli.Decompressor()
    try:
        piece = decompressor.process(data, output_buffer_limit=_CHUNK)
        out += piece
        # Output beyond the buffer limit is handed out by further calls with empty input.
        while piece and not decompressor.is_finished() and len(out) <= limit:
            piece = decompressor.process(b"", output_buffer_limit=_CHUNK)
            out += piece
    except brotli.error as exc:
        raise errors.parse_error(f"Malformed br body: {exc}") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not decompressor.is_finished():
        raise errors.parse_error("Malformed br body: truncated stream")
    return bytes(out)


_CONTENT_CODINGS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": gunzip,
    "x-gzip": gunzip,
    "deflate": inflate,
    "zstd": unzstd,
    "br": unbrotli,
}


def _base64(data: bytes) -> bytes:
    cleaned = data.strip().replace(b" ", b"+")
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        if b"-" in cleaned or b"_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=False)
    except (binascii.Error, ValueError):
        raise errors.parse_error("Malformed base64 body.") from None


def _form_field(body: bytes, name: bytes) -> bytes | None:
    """The urlencoded value of `name` in a form body (`data=...`), without building a dict of every field."""
    for part in body.split(b"&"):
        key, sep, value = part.partition(b"=")
        if sep and key.strip() == name:
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def decode_body(
    body: bytes,
    *,
    content_encoding: str | None,
    content_type: str | None,
    compression: str | None,
    max_decompressed_bytes: int,
) -> bytes:
    """The JSON bytes inside a capture body (not yet parsed)."""
    limit = max_decompressed_bytes
    data = body
    for coding in reversed([c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]):
        if coding == "identity":
            continue
        decoder = _CONTENT_CODINGS.get(coding)
        if decoder is None:
            raise errors.unsupported_media_type(f"Unsupported Content-Encoding {coding!r}.")
        data = decoder(data, limit)

    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    mode = (compression or "").strip().lower()
    # Some clients label plain JSON as a form; only a body that really holds `data=` is treated as one.
    is_form = data.startswith(b"data=") or (
        ctype == "application/x-www-form-urlencoded" and not data.lstrip().startswith((b"{", b"["))
    )
    if is_form:
        field = _form_field(data, b"data")
        if field is None:
            raise errors.parse_error("Form body has no `data` field.")
        data = field
        stripped = data.lstrip()
        if not stripped.startswith((b"{", b"[")) and not data.startswith(GZIP_MAGIC):
            data = _base64(data)
    elif mode == "base64":
        stripped = data.lstrip()
        if not stripped.startswith((b"{", b"[")):
            data = _base64(data)
    elif mode == "lz64":
        raise errors.unsupported_media_type("lz64 compression (posthog-js before 1.100) is not supported.")
    elif mode not in ("", "gzip", "gzip-js", "none"):
        raise errors.unsupported_media_type(f"Unsupported compression {mode!r}.")

    # gzip-js: posthog-js 1.449 sends gzip with text/plain and no header or query parameter at all.
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, limit)
    elif data.startswith(ZSTD_MAGIC):
        data = unzstd(data, limit)
    if len(data) > limit:
        raise _too_large(limit)
    return data
