"""Presentation helpers: relative times, compact numbers, sparklines, stack-trace layout, grouping explanations."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from faultline.web import grouping, humanize, sparkline, stacktrace
from faultline.web.paths import safe_next

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
SAMPLES = Path(__file__).parent / "fixtures"  # copied from shared/samples (recorded posthog-python 7.91.1)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(seconds=5), "just now"),
        (dt.timedelta(seconds=50), "1 minute ago"),
        (dt.timedelta(minutes=3), "3 minutes ago"),
        (dt.timedelta(hours=1, minutes=59), "1 hour ago"),
        (dt.timedelta(hours=5), "5 hours ago"),
        (dt.timedelta(days=1, hours=3), "yesterday"),
        (dt.timedelta(days=3), "3 days ago"),
        (dt.timedelta(days=15), "2 weeks ago"),
        (dt.timedelta(days=70), "2 months ago"),
        (dt.timedelta(days=800), "2 years ago"),
        (-dt.timedelta(minutes=10), "in 10 minutes"),
        (-dt.timedelta(days=2), "in 2 days"),
    ],
)
def test_relative_time(delta: dt.timedelta, text: str) -> None:
    assert humanize.relative(NOW - delta, NOW) == text


def test_naive_datetimes_are_utc_and_none_is_never() -> None:
    assert humanize.relative(NOW.replace(tzinfo=None) - dt.timedelta(minutes=2), NOW) == "2 minutes ago"
    assert humanize.relative(None) == "never"
    assert humanize.absolute(NOW) == "2026-11-22 12:00:00 UTC"
    assert humanize.iso(NOW) == "2026-11-22T12:00:00Z"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (999, "999"), (1000, "1k"), (1234, "1.2k"), (12_345, "12k"), (1_500_000, "1.5M"), (None, "0")],
)
def test_compact_numbers(value: int | None, text: str) -> None:
    assert humanize.compact(value) == text


def test_user_agents() -> None:
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
    assert humanize.user_agent(chrome) == "Chrome 156 on Linux"
    assert humanize.user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1") == "Safari 604 on iOS"
    assert humanize.user_agent(None) == "unknown browser"
    assert humanize.user_agent("x" * 10_000) == "browser"


def test_sparkline_scales_bars_and_labels_totals() -> None:
    svg = str(sparkline.bars([0, 2, 4, 0], label="24 h", width=40, height=20))
    assert svg.startswith("<svg") and 'aria-label="24 h: 6 events, peak 4"' in svg
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]
    assert heights == [9.5, 19.0]  # proportional to the peak
    assert svg.count('class="z"') == 2  # empty buckets are hairlines, not gaps
    assert "<title>4</title>" in svg


def test_sparkline_edge_cases_and_escaping() -> None:
    empty = str(sparkline.bars([], label="none"))
    assert "0 events, peak 0" in empty
    hostile = str(sparkline.bars([1], label='"><script>alert(1)</script>'))
    assert "<script>" not in hostile


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/project/1/error_tracking?x=1", "/project/1/error_tracking?x=1"),
        ("//evil.example", "/projects/"),
        ("https://evil.example", "/projects/"),
        ("/\\evil", "/projects/"),
        ("/ok\nLocation: x", "/projects/"),
        ("", "/projects/"),
        (None, "/projects/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


# --- stack traces -----------------------------------------------------------------------------------------------


def _frame(fn: str, source: str, line: int, *, in_app: bool = True, raw: str | None = None, **extra) -> dict:
    return {
        "raw_id": raw or f"{fn}-hash/0",
        "mangled_name": extra.pop("mangled", fn),
        "line": line,
        "column": extra.pop("column", None),
        "source": source,
        "in_app": in_app,
        "resolved_name": extra.pop("resolved_name", fn),
        "lang": extra.pop("lang", "python"),
        "resolved": extra.pop("resolved", True),
        **extra,
    }


def _exc(type_: str, value: str, frames: list[dict], **mechanism) -> dict:
    return {
        "id": f"id-{type_}",
        "type": type_,
        "value": value,
        "mechanism": {"type": "generic", "handled": True, **mechanism},
        "stacktrace": {"type": "resolved", "frames": frames},
    }


CHAIN = [
    _exc(
        "RuntimeError",
        "could not charge alice",
        [
            _frame("<module>", "capture.py", 15),
            _frame("charge", "myapp/billing.py", 13),
        ],
        exception_id=0,
    ),
    _exc(
        "ValueError",
        "invalid literal for int()",
        [
            _frame("charge", "myapp/billing.py", 11, raw="charge11/0"),
            _frame("parse_amount", "myapp/billing.py", 6),
            _frame("int_wrapper", "site-packages/lib/a.py", 90, in_app=False),
            _frame("deeper", "site-packages/lib/b.py", 12, in_app=False),
        ],
        exception_id=1,
        parent_id=0,
        source="cause",
        type="chained",
    ),
]

CONTEXTS = {
    "charge-hash/0": {
        "before": [{"number": 11, "line": "    try:"}, {"number": 12, "line": "        cents = parse()"}],
        "line": {"number": 13, "line": '        raise RuntimeError("could not charge") from exc'},
        "after": [{"number": 14, "line": "    return cents"}],
    }
}


def test_chain_is_outermost_first_with_relations() -> None:
    chain = stacktrace.build_chain(list(reversed(CHAIN)), CONTEXTS)  # stored order does not matter: ids decide
    assert [e.type for e in chain] == ["RuntimeError", "ValueError"]
    assert [e.relation for e in chain] == [None, "caused by"]
    assert chain[0].stack_resolved and chain[0].handled is True


def test_frames_most_recent_first_with_context_on_the_crash_frame() -> None:
    chain = stacktrace.build_chain(CHAIN, CONTEXTS)
    top = chain[0].frames[0]
    assert (top.function, top.location, top.open) == ("charge", "myapp/billing.py:13", True)
    assert [(c.number, c.crash) for c in top.context] == [(11, False), (12, False), (13, True), (14, False)]
    assert not chain[0].frames[1].open


def test_library_runs_are_folded_and_in_app_frames_stay_visible() -> None:
    chain = stacktrace.build_chain(CHAIN, CONTEXTS)
    runs = chain[1].runs
    assert [(r.in_app, len(r.frames)) for r in runs] == [(False, 2), (True, 2)]
    assert runs[0].folded and runs[0].summary == "2 library frames (site-packages/lib/b.py, site-packages/lib/a.py)"
    # The open frame is the first in-app one, not the library frame on top.
    assert [f.open for f in chain[1].frames] == [False, False, True, False]


def test_all_library_stack_is_not_folded() -> None:
    exc = _exc("Boom", "x", [_frame("a", "lib/a.py", 1, in_app=False), _frame("b", "lib/b.py", 2, in_app=False)])
    chain = stacktrace.build_chain([exc])
    assert [r.folded for r in chain[0].runs] == [False]
    assert chain[0].frames[0].open


def test_unresolved_js_frames_say_why() -> None:
    frame = _frame(
        "eF",
        "https://app.example.com/static/chunk.js",
        1,
        column=25112,
        lang="javascript",
        resolved=False,
        resolved_name=None,
        resolve_failure="No sourcemap uploaded for chunk id: abc",
    )
    view = stacktrace.build_chain([_exc("TypeError", "x", [frame])])[0].frames[0]
    assert view.function == "eF" and not view.resolved
    assert view.resolve_failure == "No sourcemap uploaded for chunk id: abc"
    assert view.location == "https://app.example.com/static/chunk.js:1:25112"
    mapped = stacktrace.frame_view(_frame("handleClick", "src/app.ts", 98, mangled="eF"), {})
    assert mapped.renamed and mapped.mangled_name == "eF"


def test_python_relations_for_context_and_groups() -> None:
    excs = [
        _exc("KeyError", "a", [], exception_id=0),
        _exc("TypeError", "b", [], exception_id=1, parent_id=0, source="context"),
        _exc("OSError", "c", [], exception_id=2, parent_id=1, source="member"),
    ]
    assert [e.relation for e in stacktrace.build_chain(excs)] == [None, "while handling", "in exception group"]


def test_raw_python_sample_renders_with_sdk_context() -> None:
    """An event whose stack was never resolved (raw SDK frames) still shows code around the crashing line."""
    sample = json.loads((SAMPLES / "posthog_python_exception.json").read_text())
    exceptions = sample["batch"][0]["properties"]["$exception_list"]
    chain = stacktrace.build_chain(exceptions)
    assert [e.type for e in chain] == ["RuntimeError", "ValueError"]
    assert chain[1].relation == "caused by"
    top = chain[1].frames[0]
    assert (top.function, top.source, top.line) == ("parse_amount", "myapp/billing.py", 6)
    crash = [c for c in top.context if c.crash]
    assert [(c.number, c.text) for c in crash] == [(6, "    return int(raw) * 100")]
    assert top.context[0].number == 1


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        "nope",
        [None, 1, "x"],
        [{"type": None, "value": {"a": 1}, "stacktrace": {"frames": "zzz"}}],
        [{"type": "X", "mechanism": "m", "stacktrace": {"type": "resolved", "frames": [None, {"line": "NaN"}]}}],
        [{"type": "X", "mechanism": {"exception_id": 0, "parent_id": 0}}],  # self-parent
        [
            {"type": "A", "mechanism": {"exception_id": 0, "parent_id": 1}},
            {"type": "B", "mechanism": {"exception_id": 1, "parent_id": 0}},
        ],  # cycle
        [{"type": "X", "stacktrace": {"frames": [{"raw_id": "r/0", "line": 3}]}}],
    ],
)
def test_hostile_exception_lists_never_raise(hostile: object) -> None:
    chain = stacktrace.build_chain(hostile, {"r/0": {"before": "x", "line": [1], "after": [{"number": "a"}]}})
    for exc in chain:
        assert isinstance(exc.type, str)
        for frame in exc.frames:
            assert isinstance(frame.function, str)


def test_huge_stacks_are_capped() -> None:
    frames = [_frame(f"f{i}", "a.py", i) for i in range(stacktrace.MAX_FRAMES + 50)]
    chain = stacktrace.build_chain([_exc("Deep", "x", frames)])
    assert chain[0].frame_count == stacktrace.MAX_FRAMES + 50
    assert chain[0].hidden_frames == 50 and len(chain[0].frames) == stacktrace.MAX_FRAMES
    assert chain[0].frames[0].function == f"f{stacktrace.MAX_FRAMES + 49}"  # the crash frame is kept


def test_raw_ids_for_context_lookup() -> None:
    assert stacktrace.raw_ids(CHAIN)[:2] == ["<module>-hash/0", "charge-hash/0"]
    assert stacktrace.raw_ids("x") == []


# --- grouping explanations ---------------------------------------------------------------------------------------


def test_automatic_record_is_explained_with_values() -> None:
    chain = stacktrace.build_chain(CHAIN, CONTEXTS)
    record = [
        {"type": "exception", "id": "id-RuntimeError", "pieces": ["Exception Type"]},
        {"type": "frame", "raw_id": "charge-hash/0", "pieces": ["Source file name", "Resolved function name"]},
        {"type": "exception", "id": "id-ValueError", "pieces": ["Exception Type"]},
        {"type": "frame", "raw_id": "parse_amount-hash/0", "pieces": ["Source file name", "Resolved function name"]},
    ]
    explanation = grouping.explain(record, chain)
    assert explanation.method == "automatic"
    assert explanation.summary == "type RuntimeError + type ValueError + 2 frames (charge, parse_amount)"
    assert explanation.parts[1].label == "charge (myapp/billing.py)"
    assert explanation.parts[1].pieces == ["Source file name", "Resolved function name"]


def test_message_is_named_when_it_was_hashed() -> None:
    chain = stacktrace.build_chain([{"type": "TypeError", "value": "Cannot read 'foo'"}])
    record = [{"type": "exception", "id": None, "pieces": ["Exception Type", "Exception Message"]}]
    assert grouping.explain(record, chain).summary == "type TypeError + message “Cannot read 'foo'”"


def test_manual_and_custom_records() -> None:
    assert grouping.explain([{"type": "manual"}], []).method == "manual"
    custom = grouping.explain([{"type": "custom", "rule_id": "0192-rule"}], [])
    assert (custom.method, custom.rule_id) == ("custom", "0192-rule")
    fallback = grouping.explain(None, [], fingerprint="custom-rule:abc")
    assert (fallback.method, fallback.rule_id) == ("custom", "abc")
    assert grouping.explain("junk", []).method == "unknown"
    assert grouping.explain([1, None, {"type": "frame"}], []).method == "automatic"
