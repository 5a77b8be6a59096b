"""The suite does not depend on the day it runs: recorded samples are moved to "just recorded", and the clock of the
whole run (this process, live servers) can be moved forward to prove it (`make test-future`)."""

from __future__ import annotations

import datetime as dt
import email.utils
import uuid

import httpx
import orjson
import pytest
import sqlalchemy as sa
import time_machine

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.clock import SHIFT_ENV, clock_shift, mid_hour
from tests.support.ingest import SAMPLES, exception_event, load_sample, load_sample_events
from tests.support.live_server import LiveServer, wait_until
from tests.support.sample_time import recorded_newest, sample_offset, shift_iso

CLOSE = dt.timedelta(seconds=60)


def test_recorded_samples_are_moved_to_just_before_now() -> None:
    raw = orjson.loads((SAMPLES / "posthog_js_exception.json").read_bytes())
    body = load_sample("posthog_js_exception.json")
    now = dt.datetime.now(dt.UTC)
    offset = sample_offset(SAMPLES)
    # The newest time of any sample lands a second or two before samples were first loaded in this process.
    assert now - dt.timedelta(hours=1) < recorded_newest(SAMPLES) + offset < now
    moved = dt.datetime.fromisoformat(body["batch"][0]["timestamp"])
    assert moved == dt.datetime.fromisoformat(raw["batch"][0]["timestamp"]) + offset
    assert now - dt.timedelta(days=1) < moved < now  # inside every now-relative window the product has
    # Offsets between the times are kept (skew correction uses timestamp - sent_at), and so is their written form.
    assert body["sent_at"] == shift_iso(raw["sent_at"], offset) and body["sent_at"].endswith("Z")
    assert len(body["sent_at"]) == len(raw["sent_at"])
    props, raw_props = body["batch"][0]["properties"], raw["batch"][0]["properties"]
    assert props["$time"] == pytest.approx(raw_props["$time"] + offset.total_seconds(), abs=1e-3)
    assert props["$initialization_time"] == shift_iso(raw_props["$initialization_time"], offset)
    # Everything else is the recording, untouched.
    for key in ("$lib_version", "$exception_list", "$session_id", "$timezone_offset"):
        assert props[key] == raw_props[key]
    assert body["batch"][0]["uuid"] == raw["batch"][0]["uuid"]
    # A sample loaded twice is moved by the same amount, so tests can compare what they loaded.
    assert load_sample_events("posthog_js_exception.json")[0]["timestamp"] == body["batch"][0]["timestamp"]


def test_shift_iso_keeps_the_written_form() -> None:
    day = dt.timedelta(days=1, microseconds=1)
    assert shift_iso("2026-11-22T12:00:05.741539+00:00", day) == "2026-11-23T12:00:05.741540+00:00"
    assert shift_iso("2026-11-22T23:59:59.999Z", day) == "2026-11-23T23:59:59.999Z"
    assert shift_iso("2026-11-22T12:00:05+02:00", day) == "2026-11-23T12:00:05+02:00"
    for not_a_time in ("2026-11-22", "2026.10.18", "at 2026-11-22T12:00:05Z", "2026-13-45T99:00:00Z"):
        assert shift_iso(not_a_time, day) == not_a_time


def test_clock_shift_setting() -> None:
    assert clock_shift({}) == clock_shift({SHIFT_ENV: " "}) == dt.timedelta(0)
    assert clock_shift({SHIFT_ENV: "365"}) == dt.timedelta(days=365)
    assert clock_shift({SHIFT_ENV: "-1.5"}) == dt.timedelta(days=-1.5)
    for bad in ("a year", "1e9", "nan"):
        with pytest.raises(ValueError, match=SHIFT_ENV):
            clock_shift({SHIFT_ENV: bad})


def test_this_process_runs_on_the_requested_clock() -> None:
    hatch = time_machine.escape_hatch
    real = hatch.datetime.datetime.now(dt.UTC) if hatch.is_travelling() else dt.datetime.now(dt.UTC)
    assert abs(dt.datetime.now(dt.UTC) - real - clock_shift()) < CLOSE


def test_mid_hour_runs_the_block_half_past() -> None:
    before = dt.datetime.now(dt.UTC)
    with mid_hour() as now:
        assert (now.minute, now.second, now.microsecond) == (30, 0, 0) and abs(now - before) < dt.timedelta(hours=1)
        assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - now < CLOSE
    assert abs(dt.datetime.now(dt.UTC) - before) < CLOSE


def test_live_server_runs_on_the_suites_clock(live_server: LiveServer, live_db: Database) -> None:
    """Its HTTP Date header and the time it stamps on an event that carries none are this process' now, shifted or
    not: a live server on the real clock would put every event a year before the test's windows."""
    response = httpx.get(live_server.url + "/_health")
    assert abs(email.utils.parsedate_to_datetime(response.headers["date"]) - dt.datetime.now(dt.UTC)) < CLOSE
    event = exception_event("ClockCheck", "when am I")
    del event["timestamp"]
    token = live_server.credentials()["project_token"]
    assert httpx.post(f"{live_server.url}/batch/", json={"api_key": token, "batch": [event]}).status_code == 200

    def stored() -> dt.datetime | None:
        with live_db.read() as session:
            return session.scalar(sa.select(Event.timestamp).where(Event.uuid == uuid.UUID(event["uuid"])))

    stamped = wait_until(stored)
    assert stamped is not None and abs(stamped - dt.datetime.now(dt.UTC)) < CLOSE
