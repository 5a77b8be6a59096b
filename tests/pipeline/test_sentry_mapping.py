"""The Sentry mapper (`faultline.pipeline.sentry`) on its own: chain order, frames, debug ids, tags, messages,
fingerprint templates; and the fingerprint functions it relies on."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from faultline.pipeline import fingerprint as fp
from faultline.pipeline.parse import InvalidEvent
from faultline.pipeline.protocols import parse_payload
from faultline.protocol import ResolvedException

SAMPLES = Path("/work/shared/samples")
DEBUG_ID = "0197A3F2-1C2D-7E6F-8A9B-0C1D2E3F4A5B"


def doc(event: dict[str, Any], event_id: str | None = None) -> bytes:
    return orjson.dumps(
        {"sentry": event, "event_id": event_id or str(uuid.uuid4()), "received_at": "2026-11-22T12:10:00+00:00"}
    )


def test_recorded_python_event() -> None:
    raw = gzip.decompress((SAMPLES / "sentry_python_envelope.body.gz").read_bytes()).split(b"\n")
    event_id = orjson.loads(raw[0])["event_id"]
    parsed = parse_payload(42, doc(orjson.loads(raw[2]), event_id))
    assert parsed.uuid == uuid.UUID(event_id)
    assert [e.type for e in parsed.exceptions] == ["RuntimeError", "ValueError"]  # outermost first
    frames = parsed.exceptions[1].raw_frames or []
    assert frames[-1]["function"] == "parse_amount" and frames[-1]["platform"] == "python"
    assert frames[-1]["code_variables"] == {"raw": "'12,50'"} and "vars" not in frames[-1]
    assert parsed.lib == "sentry.python" and parsed.lib_version == "2.75.0"
    assert parsed.release == "shop@1.2.3" and parsed.environment == "staging"
    assert parsed.distinct_id == "user-123" and parsed.properties["plan"] == "pro"
    assert parsed.level == "error" and parsed.message is None and parsed.fingerprint_template is None
    assert parsed.timestamp.isoformat().startswith("2026-11-22T12:06")


def test_browser_frames_get_platform_and_debug_id() -> None:
    url = "https://shop.example/static/app.min.js"
    event = {
        "platform": "javascript",
        "sdk": {"name": "sentry.javascript.browser", "version": "11.17.0"},
        "exception": {
            "values": [
                {
                    "type": "TypeError",
                    "value": "boom",
                    "stacktrace": {
                        "frames": [
                            {"filename": url, "abs_path": url, "function": "i", "lineno": 1, "colno": 59},
                            {"filename": "https://cdn.example/other.js", "function": "x", "lineno": 1, "colno": 2},
                        ]
                    },
                }
            ]
        },
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": DEBUG_ID}, {"type": "x"}]},
        "tags": [["page", "checkout"], ["bad"]],
        "request": {"url": "https://shop.example/cart"},
        "breadcrumbs": {"values": [{"category": "ui.click", "message": "button#pay", "timestamp": 1795000000.5}]},
    }
    parsed = parse_payload(1, doc(event))
    first, other = parsed.exceptions[0].raw_frames or []
    assert first["platform"] == "web:javascript" and first["chunk_id"] == DEBUG_ID.lower()
    assert "chunk_id" not in other
    assert parsed.properties["page"] == "checkout" and parsed.properties["$current_url"].endswith("/cart")
    assert parsed.breadcrumbs and parsed.breadcrumbs[0].category == "ui.click"
    node = parse_payload(1, doc({**event, "sdk": {"name": "sentry.javascript.node"}}))
    assert (node.exceptions[0].raw_frames or [])[0]["platform"] == "node:javascript"


def test_message_only_and_empty_events() -> None:
    parsed = parse_payload(1, doc({"logentry": {"message": "user %s failed", "formatted": "user 7 failed"}}))
    assert parsed.message == "user 7 failed"
    assert parsed.exceptions[0].type == "Message" and parsed.properties["$issue_name"] == "user 7 failed"
    with pytest.raises(InvalidEvent):
        parse_payload(1, doc({"level": "error"}))
    with pytest.raises(InvalidEvent):
        parse_payload(1, orjson.dumps({"sentry": [1], "event_id": "x"}))


def test_fingerprint_templates() -> None:
    assert parse_payload(1, doc({"message": "m", "fingerprint": ["{{ default }}"]})).fingerprint_template is None
    template = parse_payload(1, doc({"message": "m", "fingerprint": ["{{default}}", 7, None]})).fingerprint_template
    assert template == ["{{default}}", "7"]
    default = fp.v1([ResolvedException({"type": "E", "value": "v", "id": "1"}, [])])
    split = fp.templated(["{{ default }}", "x"], default)
    assert split.value != default.value and split.value == fp.templated(["{{default}}", "x"], default).value
    assert split.record[0]["type"] == "manual" and split.record[1:] == default.record
    assert fp.templated(["x"], None).value != fp.templated(["y"], None).value


def test_message_normalisation() -> None:
    same = fp.message("order 41 failed (0x7fae238dab90, 4f0c6b1e-7a3d-4c1e-9a5b-3f2d1e0c9b8a)")
    assert same.value == fp.message("order 977 failed (0x1, 00000000-0000-0000-0000-000000000000)").value
    assert same.value != fp.message("refund 41 failed").value
