"""Byte-level looks at a JSON body before it is parsed: how many values it holds, and a repair for the lone UTF-16
surrogate escapes browsers emit.

Why count values: parsing is where memory goes. orjson turns every JSON value into a Python object of 24-90 bytes
(plus its own 16-byte document node while parsing), so 20 MiB of `{},{},…` or `"a","a",…` peaks at 20-30× its
size, while real SDK events (mostly long strings) cost about 4-5× (measured: bench notes in README). Counting
containers alone is not enough (`"a",` costs nearly as much as `{},`), so the limit is on *values*: objects,
arrays, strings, numbers and literals (object keys not counted).

How, cheaply, in three steps that each decide most bodies:

1. free: every value takes at least one byte and all but one need a separator or a bracket, so a body holds at most
   (bytes + 1) / 2 values; below twice the limit (2 MB at the default) nothing is counted at all;
2. three counts at C speed (~0.5 ms per MB): `,`, `[` and `{` anywhere, +1, is an upper bound (each comma separates
   two values, each container adds one; those inside strings only make it larger);
3. only a body whose bound exceeds the limit gets the exact count, which first removes the strings (a string-aware
   scan costs about as much as the parse, so it is kept off the common path).
"""

from __future__ import annotations

import re

_ESCAPED_BACKSLASH = b"\\\\"
_ESCAPED_QUOTE = b'\\"'
_WHITESPACE = b" \t\r\n"
# Every step works on slices of this size: a C call over a whole 20 MB body holds the GIL for 10-90 ms on the
# reference box (bytearray.replace being the slowest), which the event loop and `/_health` wait out.
_SCAN_CHUNK = 1 << 18
_BACKSLASHES = re.compile(rb"\\*")


def may_exceed(data: bytes | bytearray, max_values: int) -> bool:
    """Whether `data` can hold more than `max_values` values: steps 1 and 2 of the module docstring."""
    return len(data) >= 2 * max_values and values_upper_bound(data) > max_values


def values_upper_bound(data: bytes | bytearray) -> int:
    # `count` allocates nothing and runs at memchr speed (a few ms per call on 20 MB).
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def _slices(data: bytes | bytearray, size: int) -> list[tuple[int, int]]:
    """Cut points every ~`size` bytes that never split a run of backslashes, nor one from the byte it escapes, so
    that removing escapes slice by slice equals removing them from the whole."""
    cuts = []
    start = 0
    while start < len(data):
        end = min(len(data), start + size)
        if end < len(data):
            run = len(data[start:end]) - len(data[start:end].rstrip(b"\\"))
            if run < end - start:
                end -= run  # the run (and what it escapes) goes to the next slice
            else:  # the whole slice is backslashes: take the run, and the byte after it, here
                end = min(len(data), _BACKSLASHES.match(data, end).end() + 1)  # type: ignore[union-attr]
        cuts.append((start, end))
        start = end
    return cuts


def count_values(data: bytes | bytearray) -> int:
    """The number of JSON values in `data` (valid JSON assumed; for invalid JSON any number, the parser refuses it).

    Strings are removed without a per-string regex: escaped backslashes, then escaped quotes, are deleted (left to
    right, as a JSON reader pairs them), so every remaining `"` opens or closes a string; whitespace is deleted;
    then each string is replaced by one marker byte. What is left is the structure with scalars in place, so
    values = commas + non-empty containers + 1 (a non-empty container holds one more value than it has commas).
    All of it slice by slice (`_SCAN_CHUNK`), so no step holds the GIL for long; memory stays under about the body
    plus a few slices.
    """
    outside = bytearray()
    in_string = False
    for start, end in _slices(data, _SCAN_CHUNK):
        # As bytes even when the body is a bytearray (what the decoders return): bytearray.replace is 3-4 times
        # slower, and splitting a bytearray makes a bytearray per part, sixty times slower to join.
        reduced = bytes(data[start:end]).replace(_ESCAPED_BACKSLASH, b"").replace(_ESCAPED_QUOTE, b"")
        parts = reduced.translate(None, _WHITESPACE).split(b'"')
        # Between two consecutive outside parts of a slice lies exactly one string: the join marks it.
        outside += b"s".join(parts[1 if in_string else 0 :: 2])
        if len(parts) % 2 == 0:  # an odd number of quotes flips the state
            in_string = not in_string
        if in_string and len(parts) > 1:  # the slice's last quote opened a string that goes on: mark it here
            outside += b"s"
    containers = outside.count(b"[") + outside.count(b"{")
    empty = outside.count(b"[]") + outside.count(b"{}")
    return outside.count(b",") + containers - empty + 1


# A `\u` escape is real only after an even run of backslashes, so each match starts at the beginning of a run
# (`(?<!\\)`) and carries that run along. Group 2 is a high surrogate, group 3 the low one that completes it; the
# second alternative is a low surrogate with no high one before it.
_SURROGATE_ESCAPES = re.compile(
    rb"(?<!\\)((?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|(?<!\\)((?:\\\\)*)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_REPLACEMENT_ESCAPE = b"\\ufffd"


def _repair(match: re.Match[bytes]) -> bytes:
    if match.group(2):  # a valid pair
        return match.group()
    return (match.group(1) or match.group(3) or b"") + _REPLACEMENT_ESCAPE


def may_hold_surrogate_escape(data: bytes | bytearray) -> bool:
    return b"\\ud" in data or b"\\uD" in data


def replace_lone_surrogates(data: bytes | bytearray) -> bytes:
    """`\\udXXX` escapes that are not half of a valid pair become `\\ufffd`: what a browser's `JSON.stringify`
    writes for a string cut in the middle of an emoji, which orjson (rightly, for UTF-8 output) refuses. Called only
    after orjson failed, so valid bodies never pay for the scan; the replacement has the escape's length, so the
    body's value count does not change."""
    return _SURROGATE_ESCAPES.sub(_repair, data)
