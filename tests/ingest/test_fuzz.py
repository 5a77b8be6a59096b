"""Bounded fuzzing of capture + digest with arbitrary JSON in every slot of an `$exception` event: capture answers
2xx or a 4xx in the error shape, and whatever it accepted is digested without the worker giving up on anything."""

from __future__ import annotations

import json

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultline.ingest.models import IngestCounter
from tests.ingest.conftest import Capture

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
