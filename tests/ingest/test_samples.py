"""Every recorded SDK body in shared/samples is accepted on its recorded path with its recorded headers, digested,
and grouped; the fingerprint record shows which pieces grouped it."""

from __future__ import annotations

import gzip
import json

import pytest
import sqlalchemy as sa

from faultline.issues.models import Event, Issue
from tests.ingest.conftest import Capture
from tests.support.ingest import SAMPLES

RUNTIME_RECORD = [
    ("exception", ["Exception Type"]),
    ("frame", ["Source file name", "Module name", "Resolved function name"]),
    ("frame", ["Source file name", "Module name", "Resolved function name"]),
    ("exception", ["Exception Type"]),
    ("frame", ["Source file name", "Module name", "Resolved function name"]),
    ("frame", ["Source file name", "Module name", "Resolved function name"]),
]
# jsdom harness: node-internal frames are not in app, the minified app frames carry chunk ids without an uploaded
# symbol set (unresolved), so the one un-minified in-app harness frame keys the group.
JSDOM_RECORD = [("exception", ["Exception Type"]), ("frame", ["Resolved function name"])]
PYTHON_HEADERS = {"Content-Type": "application/json", "User-Agent": "posthog-python/7.91.1"}
JS_HEADERS = {"Content-Type": "text/plain", "User-Agent": "node"}


def record(capture: Capture) -> list[list[tuple[str, list[str]]]]:
    with capture.db.read() as s:
        props = s.execute(sa.select(Event.properties).order_by(Event.id)).scalars().all()
    return [[(r["type"], r["pieces"]) for r in p["$exception_fingerprint_record"]] for p in props]


@pytest.mark.parametrize(
    ("sample", "path", "headers", "expected"),
    [
        ("posthog_python_exception.json", "/batch/", PYTHON_HEADERS, RUNTIME_RECORD),
        (
            "posthog_python_exception_v0_gzip.body.gz",
            "/batch/",
            {**PYTHON_HEADERS, "Content-Encoding": "gzip"},
            RUNTIME_RECORD,
        ),
        ("posthog_python_exception_autocapture.json", "/batch/", PYTHON_HEADERS, RUNTIME_RECORD),
        ("posthog_js_exception.gzip-js.body", "/e/", JS_HEADERS, JSDOM_RECORD),
        ("posthog_js_exception.json", "/e/", JS_HEADERS, JSDOM_RECORD),
        ("posthog_js_exception_uncompressed.json", "/e/", {"Content-Type": "application/json"}, JSDOM_RECORD),
        ("posthog_js_exception_autocapture.json", "/i/v0/e/", JS_HEADERS, JSDOM_RECORD * 1),
    ],
)
def test_recorded_v0_bodies(capture: Capture, sample: str, path: str, headers: dict, expected: list) -> None:
    response = capture.post(path, (SAMPLES / sample).read_bytes(), headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 1}
    assert capture.digest() == 1
    if sample == "posthog_js_exception_autocapture.json":
        # Two un-minified in-app harness frames here (jsdom's Window.js and the harness callback).
        expected = [
            ("exception", ["Exception Type"]),
            ("frame", ["Resolved function name"]),
            ("frame", ["Resolved function name"]),
        ]
    assert record(capture) == [expected]


def test_recorded_v1_body_gets_per_event_results(capture: Capture) -> None:
    body = (SAMPLES / "posthog_python_exception_v1.json").read_bytes()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {capture.token}",
        "PostHog-Sdk-Info": "posthog-python/7.91.1",
        "PostHog-Attempt": "1",
    }
    response = capture.post("/i/v1/analytics/events", body, headers)
    assert response.status_code == 200
    assert response.json() == {"results": {"86bef57a-2f48-48e8-b119-a42c6fddf5f0": {"result": "ok"}}}
    capture.digest()
    assert record(capture) == [RUNTIME_RECORD]
    with capture.db.read() as s:
        event = s.execute(sa.select(Event)).scalar_one()
    assert (event.lib, event.lib_version) == ("posthog-python", "7.91.1")  # from PostHog-Sdk-Info


def test_python_samples_group_together_and_js_samples_together(capture: Capture) -> None:
    for sample in ("posthog_python_exception.json", "posthog_python_exception_v0_gzip.body.gz"):
        headers = {**PYTHON_HEADERS, **({"Content-Encoding": "gzip"} if sample.endswith(".gz") else {})}
        assert capture.post("/batch", (SAMPLES / sample).read_bytes(), headers).status_code == 200
    for sample in ("posthog_js_exception.gzip-js.body", "posthog_js_exception_uncompressed.json"):
        assert capture.post("/e", (SAMPLES / sample).read_bytes(), JS_HEADERS).status_code == 200
    assert capture.digest() == 4
    with capture.db.read() as s:
        issues = s.execute(sa.select(Issue.name, Issue.occurrences).order_by(Issue.name)).all()
    assert issues == [("RuntimeError", 2), ("TypeError", 2)]


def test_real_browser_batch(capture: Capture) -> None:
    raw = (SAMPLES / "browser" / "posthog_js_browser_exceptions.gzip-js.body").read_bytes()
    decoded = json.loads(gzip.decompress(raw))
    response = capture.post("/e/", raw, {"Content-Type": "text/plain", "Origin": "http://127.0.0.1:3000"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert capture.digest() == len(decoded["batch"]) == 4
    records = record(capture)
    # Page scripts are fetched by URL, have no source map here and short columns: "not minified", so every
    # in-app frame keys the group by file and function name.
    assert (
        records[0]
        == [("exception", ["Exception Type"])] + [("frame", ["Source file name", "Resolved function name"])] * 6
    )
    assert [r[0] for r in records[2] if r[0] == "exception"] == ["exception"] * 3  # CheckoutError → Error → RangeError
    with capture.db.read() as s:
        names = s.execute(sa.select(Issue.name).order_by(Issue.created_at)).scalars().all()
        event = (
            s.execute(
                sa.select(Event).where(Event.properties["$exception_types"].isnot(None)).order_by(Event.id).offset(2)
            )
            .scalars()
            .first()
        )
    assert "CheckoutError" in names
    assert event.properties["$exception_types"] == ["CheckoutError", "Error", "RangeError"]


def test_pageleave_beacon_is_acknowledged_counted_not_stored(capture: Capture) -> None:
    body = (SAMPLES / "browser" / "posthog_js_browser_pageleave_beacon.json").read_bytes()
    response = capture.post("/e/", gzip.compress(body), {"Content-Type": "text/plain"})
    assert response.status_code == 200 and capture.pending() == 0
    capture.flush()
    report = capture.client.get(
        f"/api/environments/{capture.tenant.project.id}/error_tracking/ingestion/", headers=capture.tenant.headers
    ).json()
    assert report["totals"]["non_exception"] == 1 and report["totals"]["received"] == 0
