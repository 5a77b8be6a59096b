"""Wire-order normalisation (spec §4.4) and the parse stage's cleaning rules (spec §5.1 stage 0)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from faultline.pipeline.normalize import normalize, order_by_links, parse_version
from faultline.pipeline.parse import InvalidEvent, parse_document, parse_payload, truncate_bytes


def exc(name: str, own: int | None = None, parent: int | None = None, frames: list | None = None) -> dict:
    mechanism: dict = {"type": "chained" if parent is not None else "generic"}
    if own is not None:
        mechanism["exception_id"] = own
    if parent is not None:
        mechanism["parent_id"] = parent
    out = {"type": name, "value": name, "mechanism": mechanism}
    if frames is not None:
        out["stacktrace"] = {"type": "raw", "frames": frames}
    return out


def names(items: list[dict]) -> list[str]:
    return [i["type"] for i in items]


def test_links_give_outermost_first_whatever_the_wire_order() -> None:
    canonical = [exc("Outer", 0), exc("Cause", 1, 0), exc("RootCause", 2, 1)]
    assert names(normalize(list(canonical), "posthog-python", "7.91.1")) == ["Outer", "Cause", "RootCause"]
    # posthog-python 7.30 reversed the list (root cause first) but the links still say who wraps whom.
    assert names(normalize(list(reversed(canonical)), "posthog-python", "7.30.0")) == ["Outer", "Cause", "RootCause"]


def test_exception_groups_are_depth_first() -> None:
    group = [exc("Group", 0), exc("B", 2, 0), exc("B-cause", 3, 2), exc("A", 1, 0)]
    assert names(order_by_links(group)) == ["Group", "A", "B", "B-cause"]


def test_id_less_lists_use_the_version_rule() -> None:
    legacy = [exc("RootCause"), exc("Outer")]
    assert names(normalize(list(legacy), "posthog-python", "7.30.0")) == ["Outer", "RootCause"]
    assert names(normalize(list(legacy), "posthog-python", "garbage")) == ["Outer", "RootCause"]
    assert names(normalize(list(legacy), "posthog-python", "7.31.0")) == ["RootCause", "Outer"]
    assert names(normalize(list(legacy), "web", "1.449.2")) == ["RootCause", "Outer"]


def test_cyclic_links_fall_back_without_crashing() -> None:
    cyclic = [exc("A", 0, 1), exc("B", 1, 0)]
    assert order_by_links(cyclic) is None
    assert names(normalize(list(cyclic), "web", "1.0.0")) == ["A", "B"]


def test_frames_reversed_for_crash_first_sdks_only() -> None:
    def frames_after(lib: str, version: str) -> list[str]:
        item = exc("E", frames=[{"function": "crash"}, {"function": "main"}])
        return [f["function"] for f in normalize([item], lib, version)[0]["stacktrace"]["frames"]]

    assert frames_after("posthog-java", "1.0.0") == ["main", "crash"]
    assert frames_after("posthog-go", "1.18.9") == ["main", "crash"]
    assert frames_after("posthog-go", "1.19.0") == ["crash", "main"]
    assert frames_after("posthog-python", "7.91.1") == ["crash", "main"]
    assert parse_version("v1.2") == (1, 2, 0) and parse_version(None) is None


def doc(props: dict, **event: object) -> dict:
    base = {"event": "$exception", "uuid": "01a20325-5732-72cc-ae88-fd645a0adbd4", "properties": props}
    base.update(event)
    return {"event": base, "received_at": "2026-11-22T12:00:10+00:00"}


LIST = [{"type": "TypeError", "value": "boom"}]


def test_nul_is_replaced_everywhere_and_reserved_keys_dropped() -> None:
    payload = orjson.dumps(
        doc(
            {
                "$exception_list": [{"type": "Type\x00Error", "value": "a\x00b"}],
                "k\x00": "v\x00",
                "$exception_issue_id": "spoofed",
                "$cymbal_errors": ["x"],
            }
        )
    )
    parsed = parse_payload(1, payload)
    assert parsed.exceptions[0]["type"] == "Type\ufffdError" and parsed.exceptions[0]["value"] == "a\ufffdb"
    assert parsed.properties["k\ufffd"] == "v\ufffd"
    assert "$exception_issue_id" not in parsed.properties and "$cymbal_errors" not in parsed.properties


def test_truncation_is_utf8_safe() -> None:
    assert truncate_bytes("é" * 200, 255) == "é" * 127 + "..."
    parsed = parse_document(
        1, doc({"$exception_list": [{"type": "T" * 300, "value": "m" * 20_000}], "$issue_name": "n" * 300})
    )
    assert len(parsed.exceptions[0]["type"]) == 255 + 3
    assert len(parsed.exceptions[0]["value"].encode()) == 10_000 + 3
    assert parsed.properties["$issue_name"] == "n" * 255 + "..."


def test_skew_correction_and_future_clamp() -> None:
    received = dt.datetime(2026, 11, 22, 12, 0, 10, tzinfo=dt.UTC)
    # Client clock 1 h fast: event 5 s before sending → stored 5 s before the server received it.
    corrected = parse_document(
        1,
        {
            **doc({"$exception_list": LIST}, timestamp="2026-11-22T13:00:00+00:00"),
            "sent_at": "2026-11-22T13:00:05+00:00",
        },
    )
    assert corrected.timestamp == received - dt.timedelta(seconds=5)
    ignored = parse_document(
        1,
        {
            **doc({"$exception_list": LIST, "$ignore_sent_at": True}, timestamp="2026-11-22T11:00:00Z"),
            "sent_at": "2026-11-22T13:00:05Z",
        },
    )
    assert ignored.timestamp == dt.datetime(2026, 11, 22, 11, tzinfo=dt.UTC)
    future = parse_document(1, doc({"$exception_list": LIST}, timestamp="2030-01-01T00:00:00Z"))
    assert future.timestamp == received
    garbage = parse_document(1, doc({"$exception_list": LIST}, timestamp="yesterday"))
    assert garbage.timestamp == received


def test_legacy_flat_exception_properties() -> None:
    frames = orjson.dumps([{"platform": "web:javascript", "function": "f", "filename": "https://a/b.js"}]).decode()
    parsed = parse_document(
        1, doc({"$exception_type": "Error", "$exception_message": "old sdk", "$exception_stack_trace_raw": frames})
    )
    assert parsed.exceptions[0]["type"] == "Error" and parsed.exceptions[0]["value"] == "old sdk"
    assert parsed.exceptions[0]["stacktrace"]["frames"][0]["function"] == "f"


def test_v1_sdk_info_header_supplies_lib() -> None:
    parsed = parse_document(1, {**doc({"$exception_list": LIST}), "sdk_info": "posthog-python/7.91.1"})
    assert (parsed.lib, parsed.lib_version) == ("posthog-python", "7.91.1")
    assert parsed.properties["$lib"] == "posthog-python"


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({}, "empty_exception_list"),
        ({"$exception_list": []}, "empty_exception_list"),
        ({"$exception_list": "x"}, "invalid_exception_list"),
        ({"$exception_list": [{"value": "no type"}]}, "invalid_exception"),
    ],
)
def test_unusable_events_are_invalid(props: dict, code: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_document(1, doc(props))
    assert info.value.code == code


def test_other_events_are_refused_by_the_digest() -> None:
    with pytest.raises(InvalidEvent):
        parse_document(1, {"event": {"event": "$pageview", "properties": {}}})
