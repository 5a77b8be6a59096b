"""The byte-level JSON helpers used before parsing: the value count (exact, and its cheap upper bound) and the lone
surrogate repair, checked against Python's own JSON reader on generated documents."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultline.ingest import jsonscan
from tests.support.ingest import count_json_values

# Strings full of what could confuse a byte scan: quotes, backslashes, brackets, commas, whitespace, `\u` lookalikes.
tricky_text = st.lists(st.sampled_from([*'"\\[]{},: \t\n\ru0aé😀\x00', "\\u", "\\ud800", "\ud800"]), max_size=8).map(
    "".join
)
json_docs = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | tricky_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(tricky_text, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(doc=json_docs, indent=st.sampled_from([None, 1]), ascii_only=st.booleans(), chunk=st.sampled_from([3, 7, 1024]))
def test_value_count_matches_a_real_parser(doc: Any, indent: int | None, ascii_only: bool, chunk: int) -> None:
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonscan, "_SCAN_CHUNK", chunk)  # small chunks: strings and escapes cut at every position
        exact = jsonscan.count_values(data)
        # What the decoders hand over: a bytearray, counted the same way.
        assert jsonscan.count_values(bytearray(data)) == exact
    assert exact == count_json_values(doc)
    assert jsonscan.values_upper_bound(data) >= exact


@pytest.mark.parametrize("run", [1, 2, 3, 4, 5, 6, 7, 8, 9])
def test_backslash_runs_cut_at_every_position(run: int) -> None:
    """Slices never separate a backslash from what it escapes, whatever the run's length and where it falls (a
    whole slice of backslashes included)."""
    text = "a" + "\\" * run + '"' + "\\" * (run * 2) + "b"
    data = json.dumps([text, [text, {}], ""]).encode()
    for chunk in range(1, 12):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(jsonscan, "_SCAN_CHUNK", chunk)
            assert jsonscan.count_values(data) == 6, chunk


def test_value_count_of_the_shapes_that_cost_most() -> None:
    assert jsonscan.count_values(b"[" + b"{}," * 999 + b"{}]") == 1001
    assert jsonscan.count_values(b"[" + b'"a",' * 999 + b'"a"]') == 1001
    assert jsonscan.count_values(b'["[{,,,}]", "\\"[", "\\\\", [ ], { }]') == 6
    assert jsonscan.values_upper_bound(b'["[{,,,}]"]') == 7  # counts what is inside strings too


lone = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
pair = st.sampled_from(["\ud83d\ude00", "\U0001f600", "\U00010000"])
pieces = st.lists(st.text(alphabet=st.sampled_from(list('ab\\u"d8 ')), max_size=4) | lone | pair, max_size=8)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(pieces, min_size=1, max_size=4))
def test_lone_surrogates_become_replacement_characters(parts: list[list[str]]) -> None:
    """What a browser's JSON.stringify writes for strings cut mid-emoji parses after the repair, every lone half is
    U+FFFD, and everything else (pairs, escaped backslashes followed by `ud800` text) is exactly what it was."""
    texts = ["".join(p) for p in parts]
    data = json.dumps({"batch": texts}).encode()  # ensure_ascii: lone surrogates written as `\udXXX` escapes
    expected = [
        t.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if t else t for t in texts
    ]  # pairs join, lone halves become U+FFFD
    repaired = jsonscan.replace_lone_surrogates(data)
    assert orjson.loads(repaired) == {"batch": expected}
    assert jsonscan.count_values(repaired) == jsonscan.count_values(data)
    if expected == texts:
        assert repaired == data  # nothing to repair: byte for byte the same


def test_escaped_backslashes_before_u_are_not_escapes() -> None:
    data = rb'["\\ud800", "\\\ud800", "\ud83d\ude00", "\ud800\ud800\udc00", "\uD800\uDC00", "\uDBFFx"]'
    assert orjson.loads(jsonscan.replace_lone_surrogates(data)) == [
        "\\ud800",
        "\\\ufffd",
        "😀",
        "\ufffd\U00010000",
        "\U00010000",
        "\ufffdx",
    ]


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_counting_a_value_bomb_takes_less_memory_than_the_body(kind: type) -> None:
    """The count works slice by slice, so it needs about the structure it keeps (here half the body) plus a few
    slices. Counting the whole body at once took 1.9× the body, and 5× for a bytearray (what decoders return)."""
    data = kind(b'{"batch":[' + b'"a",' * 5_000_000 + b'"a"]}')  # 20 MB, the default decompressed cap
    tracemalloc.start()
    try:
        assert jsonscan.count_values(data) == 5_000_003
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * len(data), peak / len(data)
