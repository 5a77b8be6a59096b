"""Fingerprint selection and the V1 algorithm: golden vectors from spec §5.5 (M1, M3, M5) and the record."""

from __future__ import annotations

import hashlib

from faultline.pipeline import fingerprint as fp


def _resolved(*frames: dict) -> dict:
    return {
        "type": "TypeError",
        "value": "ignored when a resolved stack exists",
        "stacktrace": {"type": "resolved", "frames": list(frames)},
    }


def test_m1_no_stack_hashes_type_and_message() -> None:
    result = fp.v1([{"type": "TypeError", "value": "Cannot read property 'foo' of undefined", "id": "e1"}])
    assert result.value.startswith("2cb3f141543f0a80f04e")
    assert len(result.value) == 128
    assert result.version == "v1"
    assert result.record == [{"type": "exception", "id": "e1", "pieces": ["Exception Type", "Exception Message"]}]


def test_m3_resolved_in_app_frames_use_source_module_and_resolved_name() -> None:
    result = fp.v1(
        [
            _resolved(
                {
                    "raw_id": "a/0",
                    "source": "http://example.com/alpha/foo.js",
                    "resolved_name": "bar",
                    "mangled_name": "f",
                    "line": 1,
                    "column": 2,
                    "lang": "javascript",
                    "in_app": True,
                    "resolved": True,
                },
                {
                    "raw_id": "b/0",
                    "source": "http://example.com/bar.js",
                    "module": "app.module",
                    "resolved_name": "baz",
                    "mangled_name": "g",
                    "lang": "javascript",
                    "in_app": True,
                    "resolved": True,
                },
            )
        ]
    )
    assert result.value.startswith("d03a8ead4f42a8a31503")
    expected = hashlib.sha512(
        b"TypeErrorhttp://example.com/alpha/foo.jsbarhttp://example.com/bar.jsapp.modulebaz"
    ).hexdigest()
    assert result.value == expected
    assert result.record[1:] == [
        {"type": "frame", "raw_id": "a/0", "pieces": ["Source file name", "Resolved function name"]},
        {"type": "frame", "raw_id": "b/0", "pieces": ["Source file name", "Module name", "Resolved function name"]},
    ]
    assert result.record[0]["pieces"] == ["Exception Type"]


def test_m5_unresolved_frames_use_mangled_name_location_and_language() -> None:
    result = fp.v1(
        [
            _resolved(
                {
                    "raw_id": "a/0",
                    "source": "http://example.com/alpha/foo.js",
                    "mangled_name": "foo",
                    "line": 10,
                    "column": 5,
                    "lang": "javascript",
                    "in_app": True,
                    "resolved": False,
                },
                {
                    "raw_id": "b/0",
                    "mangled_name": "xyz",
                    "line": 30,
                    "column": 25,
                    "lang": "javascript",
                    "in_app": True,
                    "resolved": False,
                },
            )
        ]
    )
    assert result.value.startswith("3d5a74c21354d860d03b")
    assert result.record[2]["pieces"] == ["Mangled function name", "Line number", "Column number", "Language"]


def test_only_resolved_in_app_frames_count_when_some_are_resolved() -> None:
    base = {"lang": "javascript", "mangled_name": "m"}
    with_noise = fp.v1(
        [
            _resolved(
                {**base, "raw_id": "a/0", "resolved_name": "keep", "in_app": True, "resolved": True},
                {**base, "raw_id": "b/0", "line": 7, "in_app": True, "resolved": False},
                {**base, "raw_id": "c/0", "resolved_name": "lib", "in_app": False, "resolved": True},
            )
        ]
    )
    alone = fp.v1([_resolved({**base, "raw_id": "a/0", "resolved_name": "keep", "in_app": True, "resolved": True})])
    assert with_noise.value == alone.value
    assert [p.get("raw_id") for p in with_noise.record] == [None, "a/0"]


def test_no_in_app_frame_keys_on_first_frame_only() -> None:
    frames = [
        {"raw_id": "a/0", "resolved_name": "first", "in_app": False, "resolved": True},
        {"raw_id": "b/0", "resolved_name": "second", "in_app": False, "resolved": True},
    ]
    result = fp.v1([_resolved(*frames)])
    assert result.value == hashlib.sha512(b"TypeErrorfirst").hexdigest()


def test_message_is_excluded_once_a_stack_exists_even_empty() -> None:
    a = fp.v1([{"type": "E", "value": "one", "stacktrace": {"type": "resolved", "frames": []}}])
    b = fp.v1([{"type": "E", "value": "two", "stacktrace": {"type": "resolved", "frames": []}}])
    c = fp.v1([{"type": "E", "value": "two"}])
    assert a.value == b.value != c.value


def test_manual_fingerprint_short_kept_long_hashed() -> None:
    short = fp.manual("checkout-timeout")
    assert short.value == "checkout-timeout" and short.record == [{"type": "manual"}] and short.version is None
    long_value = "x" * 65
    assert fp.manual(long_value).value == hashlib.sha512(long_value.encode()).hexdigest()
    assert fp.manual("é" * 32).value == "é" * 32  # exactly 64 bytes: kept
    assert fp.manual("é" * 33).value == hashlib.sha512(("é" * 33).encode()).hexdigest()  # 66 bytes
