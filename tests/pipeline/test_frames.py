"""Raw frame ids (spec §4.3: SHA-512 of the platform's fields, in cymbal's order and encoding) and the built-in
resolution of each platform (spec §5.3), including JavaScript's "minified or not" guess without symbols."""

from __future__ import annotations

import hashlib

from faultline import platforms as fr


def sha(*parts: bytes) -> str:
    return hashlib.sha512(b"".join(parts)).hexdigest()


def be32(n: int) -> bytes:
    return n.to_bytes(4, "big")


PY = {
    "platform": "python",
    "filename": "myapp/billing.py",
    "abs_path": "/srv/myapp/billing.py",
    "function": "charge",
    "module": "myapp.billing",
    "lineno": 13,
    "context_line": "        raise RuntimeError()",
    "pre_context": ["def charge(user):", "    try:"],
    "post_context": ["    return cents"],
    "in_app": True,
}


def test_python_raw_id_and_resolution() -> None:
    expected = sha(
        b"        raise RuntimeError()",
        b"myapp/billing.py",
        b"charge",
        be32(13),
        b"myapp.billing",
        b"def charge(user):",
        b"    try:",
        b"    return cents",
    )
    assert fr.raw_id(PY) == expected
    [frame] = fr.platform_of(PY).resolve(PY, expected)
    assert frame.raw_id == f"{expected}/0"
    assert frame.contents == {
        "mangled_name": "charge",
        "line": 13,
        "source": "myapp/billing.py",
        "module": "myapp.billing",
        "in_app": True,
        "resolved_name": "charge",
        "lang": "python",
        "resolved": True,
        "synthetic": False,
        "suspicious": False,
    }
    assert frame.context == {
        "before": [{"number": 11, "line": "def charge(user):"}, {"number": 12, "line": "    try:"}],
        "line": {"number": 13, "line": "        raise RuntimeError()"},
        "after": [{"number": 14, "line": "    return cents"}],
    }


def test_python_without_optional_fields_hashes_zero_line() -> None:
    frame = {"platform": "python", "filename": "x.py", "function": "f"}
    assert fr.raw_id(frame) == sha(b"x.py", b"f", be32(0))


def test_node_raw_id_matches_python_rule() -> None:
    node = {**PY, "platform": "node:javascript", "filename": "src/app.js", "colno": 9}
    assert fr.raw_id(node) == sha(
        b"        raise RuntimeError()",
        b"src/app.js",
        b"charge",
        be32(13),
        b"myapp.billing",
        b"def charge(user):",
        b"    try:",
        b"    return cents",
    )


def test_node_without_chunk_id_resolves_directly_with_context() -> None:
    node = {
        "platform": "node:javascript",
        "filename": "/srv/app.js",
        "function": "handler",
        "lineno": 4,
        "colno": 2,
        "context_line": "throw err",
        "pre_context": ["a"],
        "post_context": ["b"],
        "in_app": True,
    }
    [frame] = fr.platform_of(node).resolve(node, "h")
    assert frame.contents["resolved"] is True and frame.contents["resolved_name"] == "handler"
    assert frame.contents["source"] == "/srv/app.js" and frame.contents["lang"] == "javascript"
    assert "column" not in frame.contents
    assert frame.context["line"] == {"number": 4, "line": "throw err"}


def test_node_with_chunk_id_but_no_symbols_guesses_minified_from_context_width() -> None:
    base = {
        "platform": "node:javascript",
        "filename": "/srv/app.js",
        "function": "a",
        "lineno": 1,
        "colno": 50,
        "chunk_id": "chunk-1",
        "context_line": "x",
    }
    narrow = fr.platform_of(base).resolve({**base, "pre_context": ["short"], "post_context": ["lines"]}, "h")[0]
    wide = fr.platform_of(base).resolve({**base, "pre_context": ["y" * 400], "post_context": ["z" * 400]}, "h")[0]
    assert narrow.contents["resolved"] is True and narrow.contents["resolved_name"] == "a"
    assert narrow.contents["resolve_failure"] == "No sourcemap uploaded for chunk id: chunk-1"
    assert wide.contents["resolved"] is False and "resolved_name" not in wide.contents


JS = {
    "platform": "web:javascript",
    "filename": "http://localhost:3000/static/app.injected.js",
    "function": "c",
    "in_app": True,
    "lineno": 1,
    "colno": 247,
    "chunk_id": "0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b",
}


def test_js_raw_id_uses_decimal_location_and_filename_not_chunk_id() -> None:
    expected = sha(b"c", b"1", b"247", b"http://localhost:3000/static/app.injected.js")
    assert fr.raw_id(JS) == expected
    assert fr.raw_id({**JS, "chunk_id": "other"}) == expected
    no_location = {k: v for k, v in JS.items() if k != "colno"}
    assert fr.raw_id(no_location) == sha(b"c", b"http://localhost:3000/static/app.injected.js")
    assert fr.raw_id({"platform": "web:javascript", "function": "f"}) == sha(b"f")


def test_js_with_chunk_id_and_no_symbol_set_is_minified() -> None:
    [frame] = fr.platform_of(JS).resolve(JS, "h")
    assert frame.contents["resolved"] is False
    assert "resolved_name" not in frame.contents
    assert (
        frame.contents["resolve_failure"] == "No sourcemap uploaded for chunk id: 0197a3f2-1c2d-7e6f-8a9b-0c1d2e3f4a5b"
    )
    assert frame.contents["source"] == "/static/app.injected.js"
    assert (frame.contents["line"], frame.contents["column"], frame.contents["mangled_name"]) == (1, 247, "c")


def test_js_url_without_chunk_id_is_minified_only_past_column_300() -> None:
    base = {k: v for k, v in JS.items() if k != "chunk_id"}
    short = fr.platform_of(base).resolve(base, "h")[0].contents
    long = fr.platform_of(base).resolve({**base, "colno": 301}, "h")[0].contents
    assert short["resolved"] is True and short["resolved_name"] == "c"
    assert short["resolve_failure"].startswith("Could not find sourcemap for source url: http://localhost:3000/")
    assert long["resolved"] is False and "resolved_name" not in long


def test_js_without_url_or_chunk_id_is_not_minified() -> None:
    frame = {
        "platform": "web:javascript",
        "filename": "/srv/web/run_phjs.js",
        "function": "Timeout._onTimeout",
        "in_app": True,
        "lineno": 36,
        "colno": 11,
    }
    contents = fr.platform_of(frame).resolve(frame, "h")[0].contents
    assert contents["resolved"] is True and contents["resolved_name"] == "Timeout._onTimeout"
    assert contents["resolve_failure"] == "This frame had no source url or chunk id"
    assert "source" not in contents


def test_js_without_location_is_unminified_and_anonymous_is_not_in_app() -> None:
    frame = {"platform": "web:javascript", "filename": "https://cdn.example.com/a.js:10:20", "function": "f"}
    contents = fr.platform_of(frame).resolve(frame, "h")[0].contents
    assert contents == {
        "mangled_name": "f",
        "source": "/a.js",
        "in_app": True,
        "resolved_name": "f",
        "lang": "javascript",
        "resolved": True,
        "synthetic": False,
        "suspicious": False,
        "junk_drawer": {"raw_frame": frame},
    }
    anon = fr.platform_of(frame).resolve({**frame, "filename": "<anonymous>"}, "h")[0].contents
    assert anon["in_app"] is False


def test_ruby_go_java_dart_hermes_custom_raw_ids() -> None:
    ruby = {
        "platform": "ruby",
        "filename": "app.rb",
        "function": "run",
        "lineno": 3,
        "module": "Ignored",
        "context_line": "raise",
        "pre_context": ["p"],
        "post_context": ["q"],
    }
    assert fr.raw_id(ruby) == sha(b"raise", b"app.rb", b"run", be32(3), b"p", b"q")
    go = {"platform": "go", "filename": "main.go", "function": "main.run", "lineno": 42}
    assert fr.raw_id(go) == sha(b"main.go", b"main.run", be32(42))
    java = {"platform": "java", "filename": "A.java", "function": "a", "lineno": 7, "module": "com.example.A"}
    assert fr.raw_id(java) == sha(b"A.java", b"a", (7).to_bytes(8, "big"), b"com.example.A")
    dart = {
        "platform": "dart",
        "filename": "main.dart",
        "package": "app",
        "function": "build",
        "lineno": 5,
        "colno": 6,
        "abs_path": "package:app/main.dart",
    }
    assert fr.raw_id(dart) == sha(b"main.dart", b"app", b"build", be32(5), be32(6))
    hermes = {"platform": "hermes", "filename": "index.bundle", "function": "h", "colno": 1234, "chunkId": "ck"}
    assert fr.raw_id(hermes) == sha(b"h", b"index.bundle", b"1234", b"ck")
    custom = {
        "platform": "custom",
        "lang": "elixir",
        "function": "f/1",
        "filename": "lib/a.ex",
        "lineno": 2,
        "colno": 3,
        "resolved": True,
        "module": "A",
        "context_line": "c",
        "pre_context": ["x"],
    }
    assert fr.raw_id(custom) == sha(b"c", b"lib/a.ex", b"f/1", be32(2), be32(3), b"elixir", b"true", b"A", b"x")


def test_direct_resolution_of_ruby_go_dart_custom() -> None:
    ruby = (
        fr.platform_of({"platform": "ruby"})
        .resolve({"platform": "ruby", "filename": "a.rb", "function": "f", "lineno": 1}, "h")[0]
        .contents
    )
    assert (ruby["lang"], ruby["resolved"], ruby["resolved_name"], ruby["source"]) == ("ruby", True, "f", "a.rb")
    go = (
        fr.platform_of({"platform": "go"})
        .resolve({"platform": "go", "filename": "m.go", "function": "g", "lineno": 2}, "h")[0]
        .contents
    )
    assert (go["lang"], go["resolved"], go["line"]) == ("go", True, 2)
    dart = (
        fr.platform_of({"platform": "dart"})
        .resolve(
            {
                "platform": "dart",
                "filename": "m.dart",
                "function": "d",
                "abs_path": "package:x/m.dart",
                "lineno": 3,
                "colno": 4,
            },
            "h",
        )[0]
        .contents
    )
    assert (dart["lang"], dart["source"], dart["column"]) == ("dart", "package:x/m.dart", 4)
    custom = {"platform": "custom", "lang": "elixir", "function": "f/1"}
    assert fr.platform_of(custom).resolve(custom, "h")[0].contents["resolved"] is False
    assert fr.platform_of(custom).resolve({**custom, "resolved": True}, "h")[0].contents["resolved"] is True
    assert fr.platform_of(custom).resolve(custom, "h")[0].contents["resolved_name"] == "f/1"


def test_java_and_hermes_need_symbols() -> None:
    java = {"platform": "java", "function": "a", "module": "a.b.C", "lineno": 3}
    contents = fr.platform_of(java).resolve(java, "h")[0].contents
    assert contents["resolved"] is False and "resolved_name" not in contents and contents["module"] == "a.b.C"
    assert contents["resolve_failure"] == "No map ID sent with frame"
    mapped = fr.platform_of(java).resolve({**java, "map_id": "m1"}, "h")[0].contents
    assert mapped["resolve_failure"] == "No proguard map uploaded for id: m1"
    hermes = {"platform": "hermes", "filename": "index.bundle", "function": "h", "colno": 9}
    contents = fr.platform_of(hermes).resolve(hermes, "h")[0].contents
    assert (contents["lang"], contents["line"], contents["resolved"]) == ("hermes-js", 1, False)
    assert contents["resolve_failure"] == "No chunk id sent with frame"


def test_frames_needing_symbols_keep_their_raw_frame_for_a_later_repair() -> None:
    """Unresolved for want of symbols, these frames must be findable by the repair job of a later upload."""
    from faultline.symbols.repair import references

    cases = [
        (JS, JS["chunk_id"]),
        ({**{k: v for k, v in JS.items() if k != "chunk_id"}}, "http://localhost:3000/static/app.injected.js"),
        ({"platform": "node:javascript", "function": "a", "lineno": 1, "colno": 5, "chunk_id": "n1"}, "n1"),
        ({"platform": "hermes", "function": "h", "colno": 9, "chunkId": "rn-1"}, "rn-1"),
        ({"platform": "java", "function": "a", "module": "a.b.C", "lineno": 3, "map_id": "m1"}, "m1"),
    ]
    for raw, ref in cases:
        [frame] = fr.platform_of(raw).resolve(raw, "h")
        assert frame.contents["junk_drawer"] == {"raw_frame": raw}
        assert references(frame.contents, ref), raw


def test_hostile_field_types_never_raise() -> None:
    weird = {
        "platform": "python",
        "filename": 5,
        "function": None,
        "lineno": "12",
        "pre_context": "nope",
        "post_context": [1, None],
        "context_line": {"a": 1},
        "in_app": "yes",
    }
    raw = fr.raw_id(weird)
    [frame] = fr.platform_of(weird).resolve(weird, raw)
    assert frame.contents["in_app"] is True and "line" not in frame.contents
    assert fr.raw_id({"platform": ["x"]}) and fr.raw_id({"platform": "python", "lineno": 2**40})


def test_unknown_platform_is_shown_as_sent() -> None:
    frame = {"platform": "cobol", "function": "MAIN", "filename": "a.cbl", "lineno": 1}
    contents = fr.platform_of(frame).resolve(frame, fr.raw_id(frame))[0].contents
    assert contents["lang"] == "cobol" and contents["resolved"] is True and contents["resolved_name"] == "MAIN"


def test_long_context_lines_are_capped() -> None:
    frame = {**PY, "context_line": "x" * 400}
    context = fr.platform_of(frame).resolve(frame, "h")[0].context
    assert context["line"]["line"] == "x" * 300 + "...✂️"
