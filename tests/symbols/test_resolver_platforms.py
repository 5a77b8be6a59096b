"""React Native (Hermes) and Java (ProGuard/R8) frames against the fixtures in `fixtures/`."""

from __future__ import annotations

from typing import Any

import pytest

from faultline.symbols import blobformat
from faultline.symbols.blobformat import DataType
from faultline.symbols.hermes import decode_vlq, parse_function_map
from faultline.symbols.runtime import SymbolsRuntime, runtime_for
from tests.symbols.fixtures.make_hermes_map import build as build_hermes_map
from tests.symbols.support import FIXTURES, resolve_frame, store_symbol_set, vlq

HERMES_CHUNK = "rn-bundle-7f3a"
MAP_ID = "5b4e2d1"


@pytest.fixture
def runtime(app, seed) -> SymbolsRuntime:
    return runtime_for(app.state)


def resolve(db, runtime: SymbolsRuntime, project_id: int, frame: dict[str, Any]):
    result = resolve_frame(db, runtime.resolver, project_id, frame)
    assert result is not None
    return result


def test_committed_hermes_fixture_matches_its_generator() -> None:
    import json

    assert json.loads((FIXTURES / "hermes-app.map").read_text()) == build_hermes_map()


# ---------------------------------------------------------------------------------------------------------------------
# Hermes


def hermes_frame(function: str, colno: int) -> dict[str, Any]:
    return {
        "platform": "hermes",
        "filename": "index.android.bundle",
        "function": function,
        "colno": colno,
        "chunkId": HERMES_CHUNK,
        "in_app": True,
    }


@pytest.mark.parametrize(
    ("minified", "offset", "line", "column", "name"),
    [("c", 55, 7, 5, "crash"), ("anonymous", 100, 13, 3, "App"), ("a", 25, 2, 3, "add"), ("c", 60, 7, 5, "crash")],
)
def test_hermes_frames_resolve_with_function_names(
    db, seed, runtime, minified: str, offset: int, line: int, column: int, name: str
) -> None:
    blob = blobformat.write(DataType.HERMES_MAP, (FIXTURES / "hermes-app.map").read_bytes())
    row = store_symbol_set(db, runtime.storage, seed.project.id, HERMES_CHUNK, blob)
    [result] = resolve(db, runtime, seed.project.id, hermes_frame(minified, offset))
    contents = result.contents
    assert (contents["source"], contents["line"], contents["column"]) == ("App.js", line, column)
    assert contents["resolved_name"] == name and contents["mangled_name"] == minified
    assert contents["lang"] == "hermes-js" and contents["resolved"] is True
    assert result.symbol_set_id == row.id
    source_lines = (FIXTURES / "App.js").read_text().splitlines()
    assert result.context["line"] == {"number": line, "line": source_lines[line - 1]}


def test_hermes_failures(db, seed, runtime) -> None:
    no_chunk = {**hermes_frame("c", 55), "chunkId": None}
    [result] = resolve(db, runtime, seed.project.id, no_chunk)
    assert result.contents["resolve_failure"] == "No chunk id sent with frame"
    assert (result.contents["line"], result.contents["column"], result.contents["resolved"]) == (1, 55, False)
    [result] = resolve(db, runtime, seed.project.id, hermes_frame("c", 55))
    assert result.contents["resolve_failure"] == f"No sourcemap uploaded for chunk id: {HERMES_CHUNK}"
    blob = blobformat.write(DataType.HERMES_MAP, (FIXTURES / "hermes-app.map").read_bytes())
    store_symbol_set(db, runtime.storage, seed.project.id, "other", blob)
    [result] = resolve(db, runtime, seed.project.id, {**hermes_frame("x", 3), "chunkId": "other"})
    assert result.contents["resolve_failure"] == "No token for column 3 on chunk other"


def test_function_map_decoding() -> None:
    assert decode_vlq("AAAA") == [0, 0, 0, 0]
    assert [decode_vlq(vlq(n))[0] for n in (0, 1, -1, 15, 16, -300, 123456)] == [0, 1, -1, 15, 16, -300, 123456]
    for bad in ("A!", "g", "////////////////g"):
        with pytest.raises(ValueError):
            decode_vlq(bad)
    function_map = parse_function_map([{"names": ["<global>", "f"], "mappings": "AAA,ECA,ADC"}])
    assert function_map is not None
    assert function_map.name_at(1, 0) == "<global>"
    assert function_map.name_at(1, 3) == "f"
    assert function_map.name_at(2, 0) == "f"  # the column is relative, the third field moves to line 2 at column 2
    assert function_map.name_at(2, 2) == "<global>"
    assert function_map.name_at(0, 0) is None
    assert parse_function_map("garbage") is None
    assert parse_function_map([{"names": ["a"], "mappings": "!!"}]) is None


# ---------------------------------------------------------------------------------------------------------------------
# Java / ProGuard


def java_frame(module: str, function: str, lineno: int, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "java",
        "module": module,
        "function": function,
        "lineno": lineno,
        "filename": "SourceFile",
        "map_id": MAP_ID,
        "in_app": True,
        **extra,
    }


@pytest.fixture
def proguard(db, seed, runtime):
    blob = blobformat.write(DataType.PROGUARD_MAPPING, (FIXTURES / "proguard-mapping.txt").read_bytes())
    return store_symbol_set(db, runtime.storage, seed.project.id, MAP_ID, blob)


def test_inlined_java_frame_expands_caller_first(db, seed, runtime, proguard) -> None:
    results = resolve(db, runtime, seed.project.id, java_frame("a.b", "c", 1))
    assert [
        (r.contents["module"], r.contents["resolved_name"], r.contents["line"], r.contents["source"]) for r in results
    ] == [
        ("com.example.shop.CheckoutActivity", "checkout", 87, "CheckoutActivity.kt"),
        ("com.example.shop.Cart", "validate", 15, "Cart.kt"),
    ]
    for result in results:
        assert result.contents["mangled_name"] == "c" and result.contents["lang"] == "java"
        assert result.contents["resolved"] is True and result.symbol_set_id == proguard.id


def test_plain_obfuscated_java_frame(db, seed, runtime, proguard) -> None:
    [result] = resolve(db, runtime, seed.project.id, java_frame("a.c", "b", 4))
    contents = result.contents
    assert (contents["module"], contents["resolved_name"], contents["line"]) == ("com.example.shop.Cart", "total", 21)


def test_java_failures(db, seed, runtime, proguard) -> None:
    [result] = resolve(db, runtime, seed.project.id, java_frame("a.b", "zz", 1))
    assert result.contents["resolve_failure"] == "No original frames could be derived from this raw frame"
    assert (result.contents["module"], result.contents["resolved"], result.contents["resolved_name"]) == (
        "a.b",
        False,
        None,
    )
    [result] = resolve(db, runtime, seed.project.id, java_frame("a.b", "c", 1, map_id=None))
    assert result.contents["resolve_failure"] == "No map ID sent with frame"
    [result] = resolve(db, runtime, seed.project.id, java_frame("a.b", "c", 1, map_id="other-map"))
    assert result.contents["resolve_failure"] == "No proguard map uploaded for id: other-map"
