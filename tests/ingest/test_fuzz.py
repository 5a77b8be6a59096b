"""Bounded fuzzing of capture.

* Every decoder and body shape: a JSON body in any shape SDKs use (`{api_key, batch}`, a single event, a bare array,
  a form `data=`) through any chain of encodings (stacked Content-Encodings gzip / deflate zlib or raw / zstd / br,
  base64, urlencoded form, gzip-js magic under text/plain, several gzip members or zstd frames) decodes back to
  exactly its bytes; cut, extended, corrupted or inflating past the cap, it gives one of the API's 4xx errors and
  never more than the cap, in bounded time. The same bodies over HTTP: 200 or a 4xx in the error shape.
* Arbitrary JSON in every slot of an `$exception` event: capture answers 2xx or a 4xx in the error shape, and
  whatever it accepted is digested without the worker giving up on anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

import brotli
import pytest
import sqlalchemy as sa
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultline.http.errors import APIError
from faultline.ingest.decode import MAX_CODINGS, decode_body
from faultline.ingest.models import IngestCounter
from tests.ingest.conftest import SAMPLE_TOKEN, Capture
from tests.support.ingest import exception_event

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
frame = st.dictionaries(
    st.sampled_from(
        [
            "platform",
            "filename",
            "function",
            "lineno",
            "colno",
            "in_app",
            "module",
            "context_line",
            "pre_context",
            "post_context",
            "chunk_id",
            "lang",
            "resolved",
            "abs_path",
            "map_id",
            "package",
        ]
    ),
    json_values | st.sampled_from(["python", "web:javascript", "node:javascript", "java", "hermes", "custom", "go"]),
    max_size=8,
)
exception = st.fixed_dictionaries(
    {"type": st.text(max_size=20)},
    optional={
        "value": json_values,
        "mechanism": json_values
        | st.fixed_dictionaries(
            {}, optional={"exception_id": st.integers(-2, 5), "parent_id": st.integers(-2, 5), "handled": json_values}
        ),
        "stacktrace": st.fixed_dictionaries({"frames": st.lists(frame, max_size=5)}),
    },
)
event = st.fixed_dictionaries(
    {
        "event": st.just("$exception"),
        "properties": st.fixed_dictionaries(
            {"$exception_list": st.lists(exception, min_size=1, max_size=3)},
            optional={
                "$exception_fingerprint": json_values,
                "$issue_name": json_values,
                "$lib": st.sampled_from(["posthog-python", "posthog-java", "web"]),
                "$lib_version": json_values,
                "extra": json_values,
            },
        ),
    },
    optional={"uuid": json_values, "timestamp": json_values, "distinct_id": json_values, "offset": json_values},
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event | json_values, min_size=1, max_size=4))
def test_arbitrary_events_never_crash_capture_or_digest(capture: Capture, events: list) -> None:
    body = json.dumps({"api_key": capture.token, "batch": events}).encode()
    response = capture.post("/batch/", body, {"Content-Type": "application/json"})
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        assert set(response.json()) == {"type", "code", "detail", "attr"}
    capture.digest()
    assert capture.pending() == 0
    with capture.db.read() as s:
        failed = s.execute(sa.select(IngestCounter.value).where(IngestCounter.name == "failed")).scalar()
    assert not failed


# -- every decoder and body shape ---------------------------------------------------------------------------------


@dataclass
class Encoded:
    """A capture body as an SDK could send it, and the JSON bytes it must decode to."""

    json: bytes
    body: bytes
    content_encoding: str | None = None
    content_type: str | None = None
    compression: str | None = None
    layers: list[str] = field(default_factory=list)
    largest_output: int = 0  # the largest buffer checked against the cap on the way to `json`

    def __repr__(self) -> str:  # the bodies run to 300 KB: show how they were built, not their bytes
        return (
            f"Encoded(layers={self.layers}, json={len(self.json)} B {self.json[:60]!r}…, body={len(self.body)} B, "
            f"content_encoding={self.content_encoding!r}, content_type={self.content_type!r}, "
            f"compression={self.compression!r})"
        )

    def decode(self, body: bytes | None = None, limit: int = 4 * 1024 * 1024) -> bytes:
        return decode_body(
            self.body if body is None else body,
            content_encoding=self.content_encoding,
            content_type=self.content_type,
            compression=self.compression,
            max_decompressed_bytes=limit,
        )


def _members(compress: Callable[[bytes], bytes], data: bytes, cuts: list[int]) -> bytes:
    points = sorted({min(c, len(data)) for c in cuts})
    return b"".join(compress(data[a:b]) for a, b in zip([0, *points], [*points, len(data)], strict=True))


CONTENT_CODINGS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", lambda d: gzip.compress(d, mtime=0)),
    "x-gzip": ("x-gzip", lambda d: gzip.compress(d, compresslevel=1, mtime=0)),
    "zlib": ("deflate", zlib.compress),
    "raw-deflate": ("deflate", lambda d: zlib.compress(d)[2:-4]),
    "zstd": ("zstd", zstandard.ZstdCompressor().compress),
    "br": ("br", brotli.compress),
}


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """The body shapes capture accepts, with a token, sometimes padded past the decoders' piece sizes."""
    # A fixed time, not now: the compressed sizes depend on these bytes, and hypothesis replays a failing example by
    # its draws, whose bounds (cut and flip positions) come from those sizes; only the queue sees the value.
    now = "2026-11-22T10:00:00.123456+00:00"
    count = draw(st.integers(1, 3))
    events = [
        exception_event(f"E{i}", draw(st.text(max_size=20)), timestamp=now, event_id=str(uuid.UUID(int=i)))
        for i in range(count)
    ]
    shape = draw(st.sampled_from(["batch", "single", "array"]))
    if shape == "batch":
        doc: Any = {"api_key": SAMPLE_TOKEN, "batch": events, "sent_at": now}
    elif shape == "single":
        doc = {**events[0], "api_key": SAMPLE_TOKEN}
    else:
        doc = [{**e, "properties": {**e["properties"], "token": SAMPLE_TOKEN}} for e in events]
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    padding = draw(st.sampled_from([0, 0, 70_000, 300_000]))  # past 64 KiB / 256 KiB pieces
    return raw[:-1] + b" " * padding + raw[-1:]


@st.composite
def encoded_bodies(draw: st.DrawFn) -> Encoded:
    data = draw(json_bodies())
    body, layers = data, []
    # What the cap is checked against: each decompressor's output and the final JSON (the form and base64 layers
    # only shrink what they are given).
    checked = [len(data)]
    ctype, compression = "application/json", None
    # Innermost: what is recognised by its magic bytes (posthog-js gzip-js; zstd), in one part or several.
    inner = draw(st.sampled_from(["plain", "gzip", "zstd"]))
    if inner != "plain":
        compress = CONTENT_CODINGS[inner][1]
        body = _members(compress, body, draw(st.lists(st.integers(1, len(body)), max_size=3)))
        layers.append(f"{inner}-magic")
        ctype = "text/plain"
    # Then how the SDK wraps it: nothing, base64 (?compression=base64), or a form field (base64 or raw).
    wrap = draw(st.sampled_from(["none", "base64", "form-base64", "form-raw"]))
    if wrap == "base64" and inner == "plain":
        body, compression = base64.b64encode(body), "base64"
    elif wrap == "form-base64":
        encoded = base64.b64encode(body)
        if draw(st.booleans()):
            encoded = encoded.replace(b"+", b"-").replace(b"/", b"_")  # url-safe alphabet
        body, ctype = b"data=" + quote_from_bytes(encoded, safe="").encode(), "application/x-www-form-urlencoded"
        if draw(st.booleans()):
            body = b"ver=1.2&" + body + b"&_=17000"
    elif wrap == "form-raw":
        body, ctype = b"data=" + quote_from_bytes(body, safe="").encode(), "application/x-www-form-urlencoded"
    layers.append(wrap)
    # Outermost: stacked Content-Encodings, applied in the order the header lists them.
    names = draw(st.lists(st.sampled_from(sorted(CONTENT_CODINGS)), max_size=MAX_CODINGS))
    for name in names:
        checked.append(len(body))
        body = CONTENT_CODINGS[name][1](body)
    header = ", ".join(CONTENT_CODINGS[name][0] for name in names) or None
    return Encoded(data, body, header, ctype, compression, [*layers, *names], max(checked))


def mutate(data: Any, body: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["truncate", "append", "flip", "another-member", "splice"]))
    if kind == "truncate":
        return body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
    if kind == "append":
        return body + data.draw(st.binary(min_size=1, max_size=64))
    if kind == "another-member":
        return body + data.draw(
            st.sampled_from([gzip.compress(b" ", mtime=0), b"\x1f\x8b", zstandard.ZstdCompressor().compress(b" ")])
        )
    if kind == "flip" and body:
        at = data.draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    at = data.draw(st.integers(0, len(body)))
    return body[:at] + data.draw(st.binary(max_size=32)) + body[at:]


def assert_api_refusal(exc: BaseException) -> None:
    assert isinstance(exc, APIError), f"{type(exc).__name__}: {exc}"
    assert exc.status_code in (400, 413, 415), exc


@settings(max_examples=150, deadline=dt.timedelta(seconds=10))
@given(encoded=encoded_bodies())
def test_every_encoding_and_body_shape_round_trips_exactly(encoded: Encoded) -> None:
    assert encoded.decode() == encoded.json, encoded.layers


@settings(max_examples=150, deadline=dt.timedelta(seconds=10))
@given(encoded=encoded_bodies(), limit=st.integers(1024, 400_000))
def test_no_decode_exceeds_the_cap(encoded: Encoded, limit: int) -> None:
    """Every decompressor's output counts: a 413 exactly when one would have to produce more than the limit (a
    base64 layer is larger than the JSON inside it), the exact JSON otherwise."""
    try:
        out = encoded.decode(limit=limit)
    except APIError as exc:
        assert exc.status_code == 413 and encoded.largest_output > limit, (exc, encoded.layers)
    else:
        assert out == encoded.json and encoded.largest_output <= limit


@settings(max_examples=300, deadline=dt.timedelta(seconds=10))
@given(encoded=encoded_bodies(), data=st.data())
def test_damaged_bodies_give_only_the_apis_4xx(encoded: Encoded, data: st.DataObject) -> None:
    """Cut, extended, corrupted: decoding ends with bytes (never more than the cap) or a 400/413/415."""
    body = mutate(data, encoded.body)
    try:
        out = encoded.decode(body, limit=512 * 1024)
    except Exception as exc:
        assert_api_refusal(exc)
    else:
        assert len(out) <= 512 * 1024


@pytest.mark.timeout(300)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoded=encoded_bodies(), damaged=st.booleans(), data=st.data())
def test_every_body_shape_over_http_is_accepted_or_a_clean_4xx(
    capture: Capture, encoded: Encoded, damaged: bool, data: st.DataObject
) -> None:
    body = mutate(data, encoded.body) if damaged else encoded.body
    headers = {"Content-Type": encoded.content_type or ""}
    if encoded.content_encoding:
        headers["Content-Encoding"] = encoded.content_encoding
    params = {"compression": encoded.compression} if encoded.compression else {}
    before = capture.pending()
    response = capture.post("/e/", body, headers, params=params)
    if not damaged:
        assert response.status_code == 200, (response.text, encoded.layers)
        assert capture.pending() > before
    else:
        assert response.status_code in (200, 400, 401, 413, 415), response.text
        if response.status_code != 200:
            assert set(response.json()) == {"type", "code", "detail", "attr"}
            assert capture.pending() == before
