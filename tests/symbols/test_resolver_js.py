"""Browser and Node frames against uploaded symbol sets, directly through the resolver (spec §5.3)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from faultline.symbols import blobformat
from faultline.symbols.blobformat import DataType
from faultline.symbols.models import SymbolSet
from faultline.symbols.runtime import SymbolsRuntime, runtime_for
from tests.symbols.support import CHUNK_ID, SAMPLES, resolve_frame, sample_blob, sample_frames, store_symbol_set


@pytest.fixture
def runtime(app, seed) -> SymbolsRuntime:
    return runtime_for(app.state)


def resolve(db, runtime: SymbolsRuntime, project_id: int, frame: dict[str, Any]):
    result = resolve_frame(db, runtime.resolver, project_id, frame)
    assert result is not None
    return result


def test_sample_event_frames_resolve_to_the_original_source(db, seed, runtime) -> None:
    symbol_set = store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    frames = sample_frames()
    page_frames = [f for f in frames if f.get("chunk_id") == CHUNK_ID]
    expected = {"c": (19, 19, "checkout"), "r": (10, 17, "computeTotal"), "i": (4, 11, "validateCart")}
    original = (SAMPLES / "js_bundle/app.js").read_text().splitlines()
    for frame in page_frames:
        [result] = resolve(db, runtime, seed.project.id, frame)
        contents = result.contents
        line, column, name = expected[frame["function"]]
        assert contents["source"] == "../src/app.js"
        assert (contents["line"], contents["column"], contents["resolved_name"]) == (line, column, name)
        assert contents["mangled_name"] == frame["function"]
        assert contents["resolved"] is True and contents["resolve_failure"] is None
        assert contents["lang"] == "javascript" and contents["in_app"] is True
        assert contents["junk_drawer"]["raw_frame"] == frame
        assert result.symbol_set_id == symbol_set.id
        context = result.context
        assert context["line"] == {"number": line, "line": original[line - 1]}
        assert [c["number"] for c in context["before"]] == list(range(max(1, line - 15), line))
        assert [c["line"] for c in context["before"]] == original[max(0, line - 16) : line - 1]
        assert context["after"][0] == {"number": line + 1, "line": original[line]}
    with db.read() as session:
        assert session.get(SymbolSet, symbol_set.id).last_used is not None


def test_frames_without_url_or_chunk_id_are_kept_readable(db, seed, runtime) -> None:
    node_internal = sample_frames()[0]
    [result] = resolve(db, runtime, seed.project.id, node_internal)
    contents = result.contents
    assert contents["resolve_failure"] == "This frame had no source url or chunk id"
    assert contents["resolved"] is True and contents["resolved_name"] == "process.processTimers"
    assert (contents["line"], contents["column"], contents["source"]) == (519, 7, None)
    assert result.symbol_set_id is None


def test_frame_without_location_is_treated_as_unminified(db, seed, runtime) -> None:
    frame = {"platform": "web:javascript", "filename": "https://cdn.example.com/app.js:10:5", "function": "go"}
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert result.contents["resolved"] is True
    assert result.contents["source"] == "/app.js"
    assert result.contents["line"] is None and result.contents["resolved_name"] == "go"
    anonymous = {"platform": "web:javascript", "filename": "<anonymous>", "function": "x", "in_app": True}
    assert resolve(db, runtime, seed.project.id, anonymous)[0].contents["in_app"] is False


def test_unknown_chunk_id_leaves_a_negative_row_with_the_reason(db, seed, runtime) -> None:
    frame = {**sample_frames()[-1], "chunk_id": "never-uploaded", "filename": "app.js"}
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert result.contents["resolved"] is False and result.contents["resolved_name"] is None
    assert result.contents["resolve_failure"] == "No sourcemap uploaded for chunk id: never-uploaded"
    assert (result.contents["line"], result.contents["column"]) == (1, 59)
    with db.read() as session:
        row = session.scalar(
            sa.select(SymbolSet).where(SymbolSet.ref == "never-uploaded", SymbolSet.project_id == seed.project.id)
        )
    assert row.id == result.symbol_set_id
    assert (row.storage_ptr, row.failure_reason) == (None, "No sourcemap uploaded for chunk id: never-uploaded")
    # A second frame with the same chunk id reuses the row and its explanation.
    [again] = resolve(db, runtime, seed.project.id, {**frame, "colno": 156})
    assert again.symbol_set_id == row.id
    assert again.contents["resolve_failure"] == row.failure_reason


def test_a_token_outside_the_map_says_so(db, seed, runtime) -> None:
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    frame = {**sample_frames()[-1], "lineno": 40, "colno": 3}
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert result.contents["resolved"] is False
    assert result.contents["resolve_failure"] == "Token not found for frame: i:40:3"


def test_unusable_blob_is_reported_on_frame_and_set(db, seed, runtime) -> None:
    row = store_symbol_set(db, runtime.storage, seed.project.id, "bad-chunk", b"this is not symbol data")
    frame = {**sample_frames()[-1], "chunk_id": "bad-chunk"}
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert "Unsupported symbol set format" in result.contents["resolve_failure"]
    assert result.contents["resolved"] is False
    with db.read() as session:
        assert "Unsupported symbol set format" in session.get(SymbolSet, row.id).failure_reason

    proguard = blobformat.write(DataType.PROGUARD_MAPPING, b"a -> b:\n")
    store_symbol_set(db, runtime.storage, seed.project.id, "wrong-kind", proguard)
    [result] = resolve(db, runtime, seed.project.id, {**frame, "chunk_id": "wrong-kind"})
    assert result.contents["resolve_failure"] == (
        "This symbol set holds ProGuard mapping data, but the frame needs a JavaScript source and source map"
    )


def test_missing_blob_is_explained(db, seed, runtime) -> None:
    row = store_symbol_set(db, runtime.storage, seed.project.id, "gone", sample_blob())
    runtime.storage.delete(row.storage_ptr)
    [result] = resolve(db, runtime, seed.project.id, {**sample_frames()[-1], "chunk_id": "gone"})
    assert "missing from storage" in result.contents["resolve_failure"]


def test_source_map_cache_is_built_once_per_symbol_set(db, seed, runtime, monkeypatch) -> None:
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    from faultline.symbols import resolver as resolver_module

    builds: list[int] = []
    real_parse = resolver_module.parse

    def counting_parse(blob, kind, **options):
        builds.append(1)
        return real_parse(blob, kind, **options)

    monkeypatch.setattr(resolver_module, "parse", counting_parse)
    for frame in sample_frames()[3:] * 5:
        resolve(db, runtime, seed.project.id, frame)
    assert len(builds) == 1
    assert runtime.resolver.parsed.hits >= 14


def test_lru_respects_its_byte_budget(app, seed, db) -> None:
    from faultline.symbols.runtime import build_runtime

    small = build_runtime(app.state.settings.replace(symbol_cache_mb=1))
    small.resolver.parsed.budget = 6000  # the sample set is ~2 KB once parsed
    for index in range(5):
        store_symbol_set(db, small.storage, seed.project.id, f"chunk-{index}", sample_blob())
        resolve(db, small, seed.project.id, {**sample_frames()[-1], "chunk_id": f"chunk-{index}"})
    assert len(small.resolver.parsed) <= 3
    assert small.resolver.parsed.total_bytes <= 6000


def test_other_tenants_symbol_sets_are_never_used(db, seed, other_tenant, runtime) -> None:
    store_symbol_set(db, runtime.storage, other_tenant.project.id, CHUNK_ID, sample_blob())
    [result] = resolve(db, runtime, seed.project.id, sample_frames()[-1])
    assert result.contents["resolved"] is False
    assert result.contents["resolve_failure"].startswith(f"No sourcemap uploaded for chunk id: {CHUNK_ID}")


@pytest.mark.parametrize(
    "frame",
    [
        {"platform": "web:javascript", "function": None, "lineno": "1", "colno": {}, "chunk_id": 5},
        {"platform": "web:javascript", "function": "f", "lineno": 2**40, "colno": -1, "chunk_id": CHUNK_ID},
        {"platform": "web:javascript", "function": "f", "lineno": 0, "colno": 0, "chunk_id": CHUNK_ID},
        {"platform": "web:javascript", "function": "f", "lineno": True, "colno": 3, "filename": "http://[::1"},
        {"platform": "node:javascript", "function": "f", "lineno": 1.5, "colno": 3, "chunk_id": CHUNK_ID},
        {"platform": "hermes", "function": "f", "colno": "x", "chunkId": ["a"]},
        {"platform": "java", "function": 3, "module": None, "map_id": "m"},
    ],
)
def test_hostile_frames_never_raise(db, seed, runtime, frame: dict[str, Any]) -> None:
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    results = resolve(db, runtime, seed.project.id, frame)
    assert results and all(isinstance(r.contents, dict) for r in results)


def test_other_platforms_are_left_to_the_pipeline(db, seed, runtime) -> None:
    assert resolve_frame(db, runtime.resolver, seed.project.id, {"platform": "python", "function": "f"}) is None


# ---------------------------------------------------------------------------------------------------------------------
# Node


def test_node_frame_with_chunk_id_resolves_through_the_source_map(db, seed, runtime) -> None:
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    frame = {
        "platform": "node:javascript",
        "filename": "/srv/app/dist/app.injected.js",
        "function": "r",
        "lineno": 1,
        "colno": 156,
        "chunk_id": CHUNK_ID,
    }
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert (result.contents["source"], result.contents["line"], result.contents["resolved_name"]) == (
        "../src/app.js",
        10,
        "computeTotal",
    )


def test_node_frame_without_chunk_id_keeps_its_own_context(db, seed, runtime) -> None:
    frame = {
        "platform": "node:javascript",
        "filename": "/srv/app/server.js",
        "function": "handle",
        "lineno": 12,
        "colno": 3,
        "context_line": "  throw err;",
        "pre_context": ["function handle() {"],
        "post_context": ["}"],
        "in_app": True,
    }
    [result] = resolve(db, runtime, seed.project.id, frame)
    assert result.contents["resolved"] is True and result.contents["source"] == "/srv/app/server.js"
    assert result.contents["column"] is None and result.contents["line"] == 12
    assert result.context == {
        "before": [{"number": 11, "line": "function handle() {"}],
        "line": {"number": 12, "line": "  throw err;"},
        "after": [{"number": 13, "line": "}"}],
    }


def test_node_failure_counts_as_minified_only_with_long_context_lines(db, seed, runtime) -> None:
    base = {"platform": "node:javascript", "filename": "/a.js", "function": "q", "lineno": 1, "colno": 9}
    short = {**base, "chunk_id": "missing", "context_line": "x", "pre_context": ["a"], "post_context": ["b"]}
    [result] = resolve(db, runtime, seed.project.id, short)
    assert result.contents["resolved"] is True and result.contents["resolved_name"] == "q"
    assert result.contents["resolve_failure"] == "No sourcemap uploaded for chunk id: missing"
    long = {**short, "pre_context": ["a" * 400], "post_context": ["b" * 400]}
    [result] = resolve(db, runtime, seed.project.id, long)
    assert result.contents["resolved"] is False and result.contents["resolved_name"] is None
