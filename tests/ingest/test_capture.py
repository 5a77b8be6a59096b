"""Capture endpoints: paths, body shapes, token sources, answers — and hostile input, always a 4xx in PostHog's
error shape, never a 500, never anything queued from a refused request."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from faultline.issues.models import Event
from tests.ingest.conftest import Capture
from tests.support.ingest import exception_event, python_frame


def body(*events: dict, token: str | None = "phc_test_project_token", **extra: object) -> bytes:
    doc: dict = {"batch": list(events), **extra}
    if token:
        doc["api_key"] = token
    return json.dumps(doc).encode()


def assert_error(response, status: int, code: str | None = None, attr: str | None = None) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"type", "code", "detail", "attr"}, payload
    if code:
        assert payload["code"] == code
    if attr:
        assert payload["attr"] == attr
    return payload


@pytest.mark.parametrize(
    "path",
    [
        "/batch/",
        "/batch",
        "/e/",
        "/e",
        "/i/v0/e/",
        "/i/v0/e",
        "/capture/",
        "/track",
        "/e/?ip=1&_=1700000000000&ver=1.449.2&beacon=1&retry_count=2",
    ],
)
def test_every_capture_path(capture: Capture, path: str) -> None:
    response = capture.post(path, body(exception_event()), {"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"status": 1}
    assert capture.pending() == 1


def test_body_shapes_and_token_sources(capture: Capture) -> None:
    token = capture.token
    single = {**exception_event(), "api_key": token}
    array = [{**exception_event(), "properties": {**exception_event()["properties"], "token": token}}]
    shapes = [
        json.dumps(single).encode(),
        json.dumps(array).encode(),
        json.dumps({"token": token, "batch": [exception_event()]}).encode(),
        b"data=" + quote(base64.b64encode(body(exception_event())).decode()).encode(),
    ]
    for i, payload in enumerate(shapes):
        params = {"compression": "base64"} if payload.startswith(b"data=") else {}
        ctype = "application/x-www-form-urlencoded" if params else "application/json"
        response = capture.post("/e/", payload, {"Content-Type": ctype}, params=params)
        assert response.status_code == 200, (i, response.text)
    bearer = capture.post("/batch/", body(exception_event(), token=None), {"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert capture.pending() == 5


def test_non_exception_events_are_acknowledged_but_not_queued(capture: Capture) -> None:
    pageview = {"event": "$pageview", "properties": {"distinct_id": "x"}}
    response = capture.post("/e/", body(pageview, pageview, exception_event()))
    assert response.status_code == 200 and capture.pending() == 1
    capture.flush()
    totals = capture.client.get(
        f"/api/environments/{capture.tenant.project.id}/error_tracking/ingestion/", headers=capture.tenant.headers
    ).json()["totals"]
    assert (totals["non_exception"], totals["received"]) == (2, 1)


def test_missing_and_unknown_tokens_are_401(capture: Capture) -> None:
    missing = assert_error(capture.post("/batch/", body(exception_event(), token=None)), 401, "missing_api_key")
    assert "API key not provided" in missing["detail"]
    unknown = assert_error(capture.post("/batch/", body(exception_event(), token="phc_nope")), 401, "invalid_api_key")
    assert "invalid" in unknown["detail"]
    v1 = capture.post("/i/v1/analytics/events", body(exception_event(), token=None))
    assert_error(v1, 401, "missing_api_key")
    assert capture.pending() == 0


def test_v1_answers_per_event_and_drops_only_bad_events(capture: Capture) -> None:
    good, bad = exception_event(), {"event": "$exception", "uuid": str(uuid.uuid4()), "properties": {}}
    pageview = {"event": "$pageview", "uuid": str(uuid.uuid4()), "properties": {}}
    response = capture.post(
        "/i/v1/analytics/events",
        json.dumps({"created_at": "2026-01-01T00:00:00Z", "batch": [good, bad, pageview]}).encode(),
        {"Authorization": f"Bearer {capture.token}"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[good["uuid"]] == {"result": "ok"} and results[pageview["uuid"]] == {"result": "ok"}
    assert results[bad["uuid"]]["result"] == "drop" and "$exception_list" in results[bad["uuid"]]["details"]
    assert capture.pending() == 1


def test_cors_preflight_and_headers_on_errors(capture: Capture) -> None:
    origin = {"Origin": "https://shop.example.com"}
    pre = capture.client.options(
        "/e/",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "content-type"
    error = capture.post("/e/", b"{", origin)
    assert error.status_code == 400 and error.headers["access-control-allow-origin"] == "https://shop.example.com"


def test_event_and_body_size_limits(capture: Capture) -> None:
    huge = exception_event(properties={"blob": "x" * (1024 * 1024)})
    assert_error(capture.post("/batch/", body(huge)), 413, "payload_too_large")
    settings = capture.client.app.state.ingest.settings
    too_big_body = b"{" + b" " * (settings.max_body_bytes + 10) + b"}"
    assert_error(capture.post("/batch/", too_big_body), 413, "payload_too_large")
    assert capture.pending() == 0


def nested(depth: int) -> bytes:
    return b'{"api_key":"phc_test_project_token","batch":' + b"[" * depth + b"]" * depth + b"}"


HOSTILE = [
    ("truncated gzip", gzip.compress(body(exception_event()))[:-12], {"Content-Encoding": "gzip"}, 400),
    (
        "gzip bomb",
        gzip.compress(b"[" + b" " * (120 * 1024 * 1024) + b"]", compresslevel=1),
        {"Content-Type": "text/plain"},
        413,
    ),
    ("invalid utf-8", body(exception_event()).replace(b"boom", b"bo\xff\xfem"), {}, 400),
    ("deep nesting", nested(5000), {}, 400),
    ("deep properties", body(exception_event(properties={"deep": json.loads("[" * 400 + "]" * 400)})), {}, 400),
    ("not json", b"\x00\x01\x02", {}, 400),
    ("json scalar", b"42", {}, 400),
    ("batch not a list", b'{"api_key":"phc_test_project_token","batch":{"a":1}}', {}, 400),
    ("event not an object", body("just a string"), {}, 400),  # type: ignore[arg-type]
    ("exception list not a list", body({"event": "$exception", "properties": {"$exception_list": "x"}}), {}, 400),
    (
        "exception without type",
        body({"event": "$exception", "properties": {"$exception_list": [{"value": 1}]}}),
        {},
        400,
    ),
    (
        "frames not a list",
        body(
            {
                "event": "$exception",
                "properties": {"$exception_list": [{"type": "E", "stacktrace": {"frames": "nope"}}]},
            }
        ),
        {},
        400,
    ),
    (
        "frame not an object",
        body(
            {
                "event": "$exception",
                "properties": {"$exception_list": [{"type": "E", "stacktrace": {"frames": [1, 2]}}]},
            }
        ),
        {},
        400,
    ),
    ("10 000 frames", body(exception_event(frames=[python_frame(lineno=i) for i in range(10_000)])), {}, 400),
    (
        "10 000 tiny frames",
        body(
            {
                "event": "$exception",
                "properties": {"$exception_list": [{"type": "E", "stacktrace": {"frames": [{}] * 10_000}}]},
            }
        ),
        {},
        400,
    ),
    ("properties not an object", body({"event": "$exception", "properties": [1]}), {}, 400),
    ("empty body", b"", {}, 400),
    ("unknown encoding", body(exception_event()), {"Content-Encoding": "compress"}, 415),
    ("huge batch", body(*[{"event": "$pageview"}] * 10_001), {}, 413),
]


@pytest.mark.parametrize(("name", "payload", "headers", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_a_clean_4xx(capture: Capture, name: str, payload: bytes, headers: dict, status: int) -> None:
    response = capture.post("/batch/", payload, headers)
    assert_error(response, status)
    assert capture.pending() == 0
    assert capture.client.get("/_health").status_code == 200


def test_lone_surrogates_are_accepted_and_every_event_stored_with_replacement_characters(capture: Capture) -> None:
    """A browser's JSON.stringify writes `\\ud83d` for a string cut mid-emoji; orjson refuses it, and posthog-js
    never retries a 400, so one cut string used to cost the whole batch. Sent as posthog-js does (gzip-js)."""
    events = [exception_event("CutError", f"message {i} 😀") for i in range(4)]
    events[3]["properties"]["$exception_list"][0]["stacktrace"] = {"frames": [{"function": "f 😀", "lineno": 1}]}
    raw = body(*events)  # json.dumps writes 😀 as the pair \ud83d\ude00
    raw = raw.replace(b"message 1 \\ud83d\\ude00", b"message 1 \\ud83d")  # high half alone
    raw = raw.replace(b"message 2 \\ud83d\\ude00", b"message 2 \\ude00 and \\uDBFF")  # low half alone, upper case
    raw = raw.replace(b"f \\ud83d\\ude00", b"f \\udc00\\ud83d\\ude00")  # lone low, then a valid pair
    response = capture.post("/e/", gzip.compress(raw), {"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert capture.digest() == 4
    with capture.db.read() as session:
        stored = {
            props["$exception_list"][0]["value"]: props["$exception_list"][0]
            for props in session.execute(sa.select(Event.properties)).scalars()
        }
    assert set(stored) == {"message 0 😀", "message 1 \ufffd", "message 2 \ufffd and \ufffd", "message 3 😀"}
    assert stored["message 3 😀"]["stacktrace"]["frames"][0]["mangled_name"] == "f \ufffd😀"


def test_wrong_types_are_reported_with_the_offending_attribute(capture: Capture) -> None:
    bad = exception_event()
    bad["properties"]["$exception_list"][0]["type"] = ["not", "a", "string"]
    response = capture.post("/batch/", body(exception_event(), bad))
    assert_error(response, 400, "invalid_event", "batch__1__properties__$exception_list__0__type")
    assert capture.pending() == 0  # the whole request is refused, as PostHog does
    capture.flush()
    report = capture.client.get(
        f"/api/environments/{capture.tenant.project.id}/error_tracking/ingestion/", headers=capture.tenant.headers
    ).json()
    assert report["totals"]["rejected_invalid"] == 1
    assert report["recent_errors"][0]["code"] == "invalid_event"
    assert report["recent_errors"][0]["detail"]["attr"] == "batch__1__properties__$exception_list__0__type"
