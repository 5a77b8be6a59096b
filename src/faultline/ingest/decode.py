"""Turn a capture request body into JSON bytes, whatever encoding the SDK chose, without trusting its size.

SDKs disagree about how they say a body is compressed (sdk-wire-formats.md TL;DR §3): a `Content-Encoding`
header (posthog-python, V1), a `?compression=` query parameter (older posthog-js), nothing at all but gzip magic
bytes under `text/plain` (posthog-js 1.449 gzip-js), or a urlencoded form `data=<base64>` (sendBeacon).

The decoders are the bounded ones of `faultline.compression` (shared with the source-map fetcher): strict about
what follows the end of a stream, at most `MAX_PARTS` gzip members / zstd frames and `MAX_CODINGS` stacked
Content-Encodings (SDKs send one), so a bomb costs at most about `max_decompressed_bytes` (+ one output piece) of
memory and proportionate CPU before it is refused with 413. This module maps their refusals to PostHog's error
shape: malformed → 400, too large → 413, unknown coding → 415.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes

from faultline import compression as codec
from faultline.compression import GZIP_MAGIC, MAX_PARTS, ZSTD_MAGIC
from faultline.http import errors

__all__ = ["MAX_CODINGS", "MAX_PARTS", "DecodedTooLarge", "decode_body"]

MAX_CODINGS = 4  # stacked Content-Encodings, e.g. "deflate, gzip"
_PERCENT_CHUNK = 64 * 1024


class DecodedTooLarge(errors.APIError):
    """413: the body inflates past the limit it was decoded with (the caller may retry with a larger one)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            type="invalid_request",
            code="payload_too_large",
            detail=f"Request body decompresses to more than {limit} bytes.",
        )
        self.limit = limit


def _decode(coding: str, data: bytes | bytearray, limit: int) -> bytearray:
    try:
        return codec.decode_all(coding, data, limit=limit, max_window=codec.window_for(limit))
    except codec.TooLarge:
        raise DecodedTooLarge(limit) from None
    except codec.Malformed as exc:
        raise errors.parse_error(f"Malformed {exc.coding} body: {exc.why}") from None


def _base64(data: bytes | bytearray) -> bytes:
    cleaned = data.strip().replace(b" ", b"+")
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        if b"-" in cleaned or b"_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=False)
    except (binascii.Error, ValueError):
        raise errors.parse_error("Malformed base64 body.") from None


_JSON_START = re.compile(rb"[ \t\r\n]*[\[{]")


def _is_json(data: bytes | bytearray) -> bool:
    """Whether `data` starts like a JSON object or array (without `lstrip()`, which copies a whole bytearray)."""
    return _JSON_START.match(data) is not None


_DATA_FIELD = re.compile(rb"(?:^|&)[ \t]*data[ \t]*=([^&]*)")


def _unquote(value: bytes) -> bytes:
    """Percent-decoding in slices: `unquote_to_bytes` splits its whole input on `%`, which for 20 MiB of `%41`
    would be seven million bytes objects at once."""
    value = value.replace(b"+", b" ")
    if b"%" not in value:
        return value
    out = bytearray()
    start = 0
    while start < len(value):
        end = min(len(value), start + _PERCENT_CHUNK)
        # Never cut an escape in two: move the cut before a `%` that sits in the last two bytes of the slice.
        cut = value.rfind(b"%", max(start, end - 2), end)
        if cut != -1 and end < len(value):
            end = cut if cut > start else end
        out += unquote_to_bytes(value[start:end])
        start = end
    return bytes(out)


def _form_field(body: bytes | bytearray) -> bytes | None:
    """The urlencoded `data` field of a form body, found by one regex scan rather than a list of every field."""
    match = _DATA_FIELD.search(body)
    return _unquote(match.group(1)) if match else None


def decode_body(
    body: bytes | bytearray,
    *,
    content_encoding: str | None,
    content_type: str | None,
    compression: str | None,
    max_decompressed_bytes: int,
) -> bytes | bytearray:
    """The JSON bytes inside a capture body (not yet parsed); `DecodedTooLarge` past `max_decompressed_bytes`. A
    decoded body comes back as the decoder's bytearray: copying 20 MiB into a `bytes` only to parse it would double
    the peak."""
    limit = max_decompressed_bytes
    data: bytes | bytearray = body
    try:
        codings = codec.codings(content_encoding, max_codings=MAX_CODINGS)
    except codec.Unsupported as exc:
        raise errors.unsupported_media_type(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    for coding in reversed(codings):
        data = _decode(coding, data, limit)

    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    mode = (compression or "").strip().lower()
    # Some clients label plain JSON as a form; only a body that really holds `data=` is treated as one.
    is_form = data.startswith(b"data=") or (ctype == "application/x-www-form-urlencoded" and not _is_json(data))
    if is_form:
        field = _form_field(data)
        if field is None:
            raise errors.parse_error("Form body has no `data` field.")
        data = field
        if not _is_json(data) and not data.startswith((GZIP_MAGIC, ZSTD_MAGIC)):
            data = _base64(data)
    elif mode == "base64":
        if not _is_json(data):
            data = _base64(data)
    elif mode == "lz64":
        raise errors.unsupported_media_type("lz64 compression (posthog-js before 1.100) is not supported.")
    elif mode not in ("", "gzip", "gzip-js", "none"):
        raise errors.unsupported_media_type(f"Unsupported compression {mode!r}.")

    # gzip-js: posthog-js 1.449 sends gzip with text/plain and no header or query parameter at all.
    if data.startswith(GZIP_MAGIC):
        data = _decode("gzip", data, limit)
    elif data.startswith(ZSTD_MAGIC):
        data = _decode("zstd", data, limit)
    if len(data) > limit:
        raise DecodedTooLarge(limit)
    return data
