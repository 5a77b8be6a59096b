"""Bounded decoding of the HTTP content codings `gzip`, `deflate`, `zstd` and `br`, for every place that inflates
bytes someone else chose: capture bodies (`faultline.ingest.decode`, all at once) and responses of script hosts
(`faultline.symbols.fetch`, chunk by chunk as they arrive).

A compressed stream says nothing trustworthy about what it inflates to (a 481-byte `br` body → gigabytes, a 140-byte
gzip body with a trailing byte once made a decoder loop forever), so each decoder here is a push decoder whose work
is bounded *before* it is done:

* input is handed to the library in slices of at most `IN_SLICE` bytes and output asked for in pieces of about
  `piece` bytes (zlib's `max_length`, brotli's `output_buffer_limit` — its buffer grows in blocks, so up to twice
  that), so a step either consumes input or produces output that counts against `limit`; a step that does neither
  is a `Malformed` "decoder made no progress", never another turn of the loop (CPython's zlib keeps handing back the
  same `unconsumed_tail` after the end of a stream). Slicing also keeps CPython from copying the rest of a big input
  into `unconsumed_tail` / `unused_data` on every step (quadratic on a 20 MiB body);
* python-zstandard's `decompressobj` has no output bound, so zstd input is fed in slices small enough that one
  step cannot produce much more than what is left of `limit`: one zstd block (≤ 128 KiB) can come from 4 input
  bytes, a ratio of at most 32 768, so a step overshoots by at most two blocks; frames whose window exceeds
  `max_window` are refused before any buffer is reserved (a frame may ask for 2 GiB);
* output past `limit` raises `TooLarge` at once, in every stage, so a stage of stacked codings cannot balloon either;
* a stream holds at most `MAX_PARTS` gzip members / zstd frames (SDKs send one; 20-byte empty members would
  otherwise cost a decoder object each); what follows the end of the stream that is not another member is a
  `Malformed` "unexpected data after the end…", unless the caller passes `ignore_trailing=True` (what browsers do
  with a script host's junk); a stream cut short is `Malformed` "truncated stream".

So a bomb costs at most `limit` plus a few pieces and the decoders' windows (32 KiB zlib, ≤ 16 MiB brotli,
`max_window` zstd) of memory, and CPU in proportion, before it is refused. The libraries are the standard ones
(zlib, Google's `brotli`, `zstandard`, libzstd's binding); only the bounded driving is ours. Callers map the two
exceptions to their own answers (capture: 400/413/415 in PostHog's error shape; fetch: `FetchError` messages).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import brotli
import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_PARTS = 16  # gzip members or zstd frames in one stream
IN_SLICE = 64 * 1024
PIECE = 256 * 1024
# Window a zstd frame may ask for when the caller sets none: what `zstd -19` uses, and RFC 9659's HTTP limit.
ZSTD_WINDOW = 8 * 1024 * 1024
_ZSTD_MAX_RATIO = 32 * 1024
_ZSTD_MIN_SLICE = 4  # the smallest block (an RLE one) takes 4 bytes: a step yields at most two blocks
CODINGS = ("gzip", "x-gzip", "deflate", "zstd", "br")


class DecodeError(ValueError):
    """The bytes cannot be decoded; the message can be shown to whoever sent them."""


class Unsupported(DecodeError):
    """A Content-Encoding list we do not decode: unknown coding, or too many stacked."""


class Malformed(DecodeError):
    def __init__(self, coding: str, why: str) -> None:
        super().__init__(f"malformed {coding} body: {why}")
        self.coding = coding
        self.why = why


class TooLarge(DecodeError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"decoded body exceeds {limit} bytes")
        self.limit = limit


class Decoder(Protocol):
    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        """Decode `data`, the next bytes of the stream; yields pieces of about the decoder's piece size."""
        ...

    def end(self) -> None:
        """The input ended: raise `Malformed` if the stream did not."""
        ...


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.produced = 0

    def count(self, piece: bytes) -> bytes:
        self.produced += len(piece)
        if self.produced > self.limit:
            raise TooLarge(self.limit)
        return piece

    @property
    def left(self) -> int:
        return self.limit - self.produced


class _Zlib:
    """gzip (several members, like gzip(1)), zlib-wrapped or raw deflate (`wbits` None: HTTP `deflate`, which
    should be zlib-wrapped but is raw from some clients; the first two bytes tell)."""

    def __init__(self, name: str, wbits: int | None, limit: int, piece: int, ignore_trailing: bool) -> None:
        self.name = name
        self.wbits = wbits
        self.budget = _Budget(limit)
        self.piece = piece
        self.ignore_trailing = ignore_trailing
        self.parts = 0
        self.inflater: zlib._Decompress | None = None
        self.carry = b""  # bytes after a member's end, too few yet to tell whether another member starts
        self.seen = False
        self.finished = False  # trailing data is being ignored

    def _start(self, head: bytes) -> bool:
        """A new member/stream begins with `head` (≥ 2 bytes, or everything there is): False if it is not one."""
        if self.parts:
            if self.wbits is None or self.wbits <= zlib.MAX_WBITS or not head.startswith(GZIP_MAGIC):
                if self.ignore_trailing:
                    self.finished = True
                    return False
                raise Malformed(self.name, "unexpected data after the end of the compressed stream")
            if self.parts >= MAX_PARTS:
                raise Malformed(self.name, f"more than {MAX_PARTS} gzip members")
        wbits = self.wbits
        if wbits is None:
            zlib_wrapped = (head[0] & 0x0F) == 8 and ((head[0] << 8) | head[1]) % 31 == 0
            wbits = zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS
            self.wbits = wbits
        self.inflater = zlib.decompressobj(wbits)
        self.parts += 1
        return True

    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        view = memoryview(data)
        for offset in range(0, len(view), IN_SLICE):
            yield from self._slice(view[offset : offset + IN_SLICE])

    def _slice(self, pending: bytes | memoryview) -> Iterator[bytes]:
        if pending:
            self.seen = True
        while pending and not self.finished:
            if self.inflater is None:
                if len(self.carry) + len(pending) < 2:
                    self.carry += bytes(pending)
                    return
                if self.carry:
                    pending, self.carry = self.carry + bytes(pending), b""
                if not self._start(bytes(pending[:2])):
                    return
            inflater = self.inflater
            assert inflater is not None
            before = len(pending)
            try:
                out = inflater.decompress(pending, self.piece)
            except zlib.error as exc:
                raise Malformed(self.name, str(exc)) from None
            if out:
                yield self.budget.count(out)
            if inflater.eof:
                pending = inflater.unused_data
                self.inflater = None
                continue
            pending = inflater.unconsumed_tail
            if not out and len(pending) == before:
                raise Malformed(self.name, "decoder made no progress")
        # Input used up; a full piece may leave output inside zlib: ask until it is dry.
        inflater = self.inflater
        while inflater is not None and not inflater.eof and not self.finished:
            try:
                out = inflater.decompress(b"", self.piece)
            except zlib.error as exc:
                raise Malformed(self.name, str(exc)) from None
            if not out:
                break
            yield self.budget.count(out)
            if inflater.eof:
                self.inflater = None
            elif len(out) < self.piece:
                break

    def end(self) -> None:
        if self.finished or not self.seen:
            return
        if self.inflater is not None or not self.parts:  # inside a stream, or too short to have begun one
            raise Malformed(self.name, "truncated stream")
        if self.carry and not self.ignore_trailing:
            raise Malformed(self.name, "unexpected data after the end of the compressed stream")


class _Zstd:
    """Frames one after another (zstd's concatenation), each fed in slices sized so that no step can produce more
    than what is left of the budget (plus two blocks). The stream reader would bound output, but it
    silently returns a truncated frame's partial output; `decompressobj` tells by its `eof`."""

    def __init__(self, limit: int, piece: int, max_window: int, ignore_trailing: bool) -> None:
        self.budget = _Budget(limit)
        self.piece = piece
        self.decompressor = zstandard.ZstdDecompressor(max_window_size=max_window)
        self.ignore_trailing = ignore_trailing
        self.obj: zstandard.ZstdDecompressionObj | None = None
        self.parts = 0
        self.carry = b""  # the start of what follows a frame, too short yet to tell whether it is another frame
        self.finished = False  # trailing data is being ignored

    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        view = memoryview(data)
        pos = 0
        while pos < len(view) and not self.finished:
            if self.obj is None and not (yield from self._next_frame(view[pos:])):
                return
            size = max(_ZSTD_MIN_SLICE, min(IN_SLICE, self.budget.left // _ZSTD_MAX_RATIO))
            chunk = view[pos : pos + size]
            pos += len(chunk) - (yield from self._step(chunk))

    def _next_frame(self, rest: memoryview) -> Iterator[bytes]:
        """Start a frame with `rest` coming next: False if none can start yet (too few bytes to tell, or trailing
        data being ignored). Strict decoding leaves the check to libzstd, which refuses a bad frame header."""
        if self.parts and self.ignore_trailing:
            if len(self.carry) + len(rest) < len(ZSTD_MAGIC):
                self.carry += bytes(rest)
                return False
            if not (self.carry + bytes(rest[: len(ZSTD_MAGIC)])).startswith(ZSTD_MAGIC):
                self.finished = True
                return False
        if self.parts >= MAX_PARTS:
            raise Malformed("zstd", f"more than {MAX_PARTS} frames")
        self.obj = self.decompressor.decompressobj()
        self.parts += 1
        if self.carry:  # the first bytes of this frame's header: they cannot end it
            carried, self.carry = self.carry, b""
            yield from self._step(carried)
        return True

    def _step(self, chunk: bytes | memoryview) -> Iterator[bytes]:
        """Decode `chunk` with the current frame; returns how many of its bytes belong after the frame's end."""
        assert self.obj is not None
        try:
            out = self.obj.decompress(chunk)
        except zstandard.ZstdError as exc:
            raise Malformed("zstd", str(exc)) from None
        self.budget.count(out)
        for offset in range(0, len(out), self.piece):
            yield out[offset : offset + self.piece] if len(out) > self.piece else out
        if not self.obj.eof:
            return 0
        rest = len(self.obj.unused_data)
        self.obj = None
        return rest

    def end(self) -> None:
        if self.obj is not None:
            raise Malformed("zstd", "truncated stream")


class _Brotli:
    """Brotli hands out at most about `output_buffer_limit` per call and keeps the rest of its output (and input)
    for calls with empty input. A brotli stream cannot be concatenated; bytes after its end are refused by the
    decoder itself when they arrive with the stream's last bytes, so they are refused in a later chunk too, whatever
    `ignore_trailing` says: how the body was cut must never change the answer."""

    def __init__(self, limit: int, piece: int, ignore_trailing: bool) -> None:
        self.budget = _Budget(limit)
        self.piece = piece
        self.ignore_trailing = ignore_trailing
        self.decompressor = brotli.Decompressor()
        self.seen = False

    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        if not data:
            return
        if self.decompressor.is_finished():
            raise Malformed("br", "unexpected data after the end of the compressed stream")
        self.seen = True
        try:
            out = self.decompressor.process(bytes(data), output_buffer_limit=self.piece)
            while out:
                yield self.budget.count(out)
                if self.decompressor.is_finished():
                    return
                out = self.decompressor.process(b"", output_buffer_limit=self.piece)
        except brotli.error as exc:
            raise Malformed("br", str(exc)) from None

    def end(self) -> None:
        if self.seen and not self.decompressor.is_finished():
            raise Malformed("br", "truncated stream")


def decoder(
    coding: str, *, limit: int, piece: int = PIECE, max_window: int = ZSTD_WINDOW, ignore_trailing: bool = False
) -> Decoder:
    """A push decoder for one content coding (one of `CODINGS`) whose total output may not pass `limit`."""
    if coding in ("gzip", "x-gzip"):
        return _Zlib("gzip", 16 + zlib.MAX_WBITS, limit, piece, ignore_trailing)
    if coding == "deflate":
        return _Zlib("deflate", None, limit, piece, ignore_trailing)
    if coding == "zstd":
        return _Zstd(limit, piece, max_window, ignore_trailing)
    if coding == "br":
        return _Brotli(limit, piece, ignore_trailing)
    raise Unsupported(f"unsupported Content-Encoding {coding!r}")


def decode_all(coding: str, data: bytes | bytearray, *, limit: int, max_window: int = ZSTD_WINDOW) -> bytearray:
    """All of `data` decoded at once (strict: trailing data is an error). A bytearray, so the caller gets the
    output without one more copy of it."""
    if not data:
        raise Malformed("gzip" if coding == "x-gzip" else coding, "truncated stream")
    stream = decoder(coding, limit=limit, max_window=max_window)
    out = bytearray()
    for piece in stream.feed(data):
        out += piece
    stream.end()
    return out


def window_for(limit: int) -> int:
    """The zstd window to allow when the whole output may be `limit` bytes: a frame whose window exceeds both that
    and 8 MiB cannot be one we want."""
    return 1 << max(23, min(31, (limit - 1).bit_length()))


def codings(header: str | None, *, max_codings: int) -> list[str]:
    """The `Content-Encoding` list in the order it was applied, `identity` dropped; `Unsupported` for an unknown
    coding or more than `max_codings`."""
    found = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    found = [c for c in found if c != "identity"]
    if len(found) > max_codings:
        raise Unsupported(f"too many content encodings ({len(found)}; at most {max_codings})")
    for coding in found:
        if coding not in CODINGS:
            raise Unsupported(f"unsupported Content-Encoding {coding!r}")
    return found


def _capped(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    budget = _Budget(limit)
    for chunk in chunks:
        yield budget.count(chunk)


def _through(stream: Decoder, chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from stream.feed(chunk)
    stream.end()


def decode(
    applied: Sequence[str],
    chunks: Iterable[bytes],
    *,
    limit: int,
    piece: int = PIECE,
    max_window: int = ZSTD_WINDOW,
    ignore_trailing: bool = False,
) -> Iterator[bytes]:
    """Undo `applied` (from `codings`) over raw `chunks`, lazily. Every stage's output — the raw input included —
    is capped at `limit` bytes (compressed data is at most marginally larger than what it decodes to)."""
    stream: Iterator[bytes] = _capped(chunks, limit)
    for coding in reversed(applied):
        stage = decoder(coding, limit=limit, piece=piece, max_window=max_window, ignore_trailing=ignore_trailing)
        stream = _through(stage, stream)
    return stream
