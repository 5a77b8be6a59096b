"""Symbolication speed: cold build of a ~1 MB source map and warm frames/s through the real resolver.

A realistic bundle is generated — valid minified JavaScript from ~720 functions in 30 modules with nested
functions, callbacks, arrow functions and object methods; ~60k mapped tokens; a 1.0 MB version-3 source map with
names and sourcesContent — packed as a posthog-cli SourceAndMap v2/zstd blob, stored as a symbol set in a
temporary SQLite database with local blob storage, and then:

* cold: `parse` of the blob (zstd + `symbolic.SourceMapCache` build) — what the first frame of a new set pays;
* warm: `SymbolSetResolver.resolve()` on frames at real token positions, with the set cached — the per-frame cost
  in the digest pipeline (row cache, LRU hit, lookup with 15 context lines, Frame dict);
* baseline: bare `SourceMapCache.lookup(line, col, 15)` on the same frames in the same process — what a direct use
  of symbolic costs (the resolver takes context lines from the map's sourcesContent instead, which is cheaper).

Targets (issue 7): warm ≥ 20,000 frames/s; cold build < 300 ms.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faultline import migrate  # noqa: E402
from faultline.accounts import service as accounts  # noqa: E402
from faultline.config import load_settings  # noqa: E402
from faultline.db import Database  # noqa: E402
from faultline.symbols import blobformat  # noqa: E402
from faultline.symbols.models import SymbolSet  # noqa: E402
from faultline.symbols.parsed import Kind, parse  # noqa: E402
from faultline.symbols.runtime import build_runtime  # noqa: E402
from faultline.symbols.storage import new_key  # noqa: E402

WARM_FRAMES = 20_000
TARGET_WARM = 20_000
TARGET_COLD_MS = 300
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def vlq(value: int) -> str:
    number = (-value << 1) | 1 if value < 0 else value << 1
    out = ""
    while True:
        digit = number & 31
        number >>= 5
        if number:
            digit |= 32
        out += _B64[digit]
        if not number:
            return out


IDENTS = [
    "value",
    "total",
    "count",
    "items",
    "price",
    "limit",
    "offset",
    "index",
    "result",
    "record",
    "entry",
    "amount",
    "weight",
    "factor",
    "buffer",
    "cursor",
    "ratio",
    "delta",
    "score",
    "level",
]
PROPS = ["limit", "offset", "scale", "mode", "retries", "timeout", "currency", "locale"]
ERRORS = ["RangeError", "TypeError", "Error"]


class Writer:
    """Builds one original source line and its minified twin, recording a mapping per emitted token."""

    def __init__(self) -> None:
        self.original = ""
        self.minified = ""
        self.tokens: list[tuple[int, int, str | None]] = []  # (minified col, original col, name)

    def put(self, original: str, minified: str | None = None, *, token: bool = True, name: str | None = None) -> None:
        """Like a real minifier, nearly every token gets a mapping (whitespace-only pieces do not)."""
        if token and original.strip():
            self.tokens.append((len(self.minified), len(self.original), name))
        self.original += original
        self.minified += original if minified is None else minified


def function_lines(rng: random.Random, fn_name: str, mini: str, module: int) -> list[Writer]:
    """One original function (8-14 statements) with its minified form, token by token."""
    lines: list[Writer] = []
    local = {name: f"{chr(97 + i % 26)}{'' if i < 26 else i // 26}" for i, name in enumerate(rng.sample(IDENTS, 8))}
    names = list(local)
    head = Writer()
    head.put("export ", "")
    head.put("function ", "function ", token=True)
    head.put(fn_name, mini, token=True, name=fn_name)
    head.put("(input, options = {}) {", "(i,o={}){")
    lines.append(head)
    decl = Writer()
    decl.put("  let ", "let ")
    decl.put(", ".join(f"{n} = 0" for n in names) + ";", ",".join(f"{local[n]}=0" for n in names) + ";")
    lines.append(decl)
    for _ in range(rng.randint(8, 14)):
        w = Writer()
        w.put("  ", "")
        kind = rng.randrange(8)
        a, b = rng.sample(names, 2)
        if kind == 0:
            helper = f"normalize{module}Value{rng.randrange(7)}"
            w.put(a, local[a], token=True, name=a)
            w.put(" = ", "=")
            w.put(helper, f"n{module % 7}", token=True, name=helper)
            w.put("(input) * ", "(i)*")
            w.put(str(rng.randint(2, 997)))
            w.put(";", ";")
        elif kind == 1:
            prop = rng.choice(PROPS)
            w.put("if (", "if(", token=True)
            w.put(a, local[a], token=True, name=a)
            w.put(" > options.", ">o.")
            w.put(prop, token=True, name=prop)
            w.put(") { ", "){")
            w.put(a, local[a], token=True, name=a)
            w.put(f" = options.{prop}; }}", f"=o.{prop}}}")
        elif kind == 2:
            w.put("for (let ", "for(let ", token=True)
            w.put("step", "s", token=True, name="step")
            w.put(" = 0; step < ", "=0;s<")
            w.put(str(rng.randint(2, 64)))
            w.put("; step++) { ", ";s++){")
            w.put(b, local[b], token=True, name=b)
            w.put(" += step * ", "+=s*")
            w.put(str(rng.randint(2, 9)))
            w.put("; }", "}")
        elif kind == 3:
            w.put(a, local[a], token=True, name=a)
            w.put(" = (", "=(")
            w.put("x", "x", token=True, name="x")
            w.put(") => x * ", ")=>x*")
            w.put(f"{rng.randint(2, 50)} + ", f"{rng.randint(2, 50)}+")
            w.put(b, local[b], token=True, name=b)
            w.put(";")
        elif kind == 4:
            error = rng.choice(ERRORS)
            w.put("if (!", "if(!", token=True)
            w.put(a, local[a], token=True, name=a)
            w.put(") throw new ", ")throw new ")
            w.put(error, token=True, name=error)
            w.put(f'("{fn_name}: missing {a}");', f'("{fn_name}: missing {a}");')
        elif kind == 5:
            w.put("log(", "l(", token=True, name="log")
            w.put(f'"{fn_name}", ', f'"{fn_name}",')
            w.put(a, local[a], token=True, name=a)
            w.put(", ", ",")
            w.put(b, local[b], token=True, name=b)
            w.put(");", ");")
        elif kind == 6:
            w.put("input.items.forEach(", "i.items.forEach(")
            w.put("function visit", "function v", name="visit")
            w.put("(item) { ", "(t){")
            w.put(a, local[a], name=a)
            w.put(" += item.price * ", "+=t.price*")
            w.put(f"{rng.randint(2, 9)}; }});", f"{rng.randint(2, 9)}}});")
        else:
            w.put(a, local[a], name=a)
            w.put(" = { ", "={")
            w.put("read", name="read")
            w.put("(key) { return options[key] || ", "(k){return o[k]||")
            w.put(b, local[b], name=b)
            w.put("; }, ", "},")
            w.put("write", name="write")
            w.put("(key, next) { options[key] = next; } };", "(k,n){o[k]=n}};")
        lines.append(w)
    tail = Writer()
    tail.put("  return ", "return ", token=True)
    tail.put(names[0], local[names[0]], token=True, name=names[0])
    tail.put(" + options.offset;", "+o.offset;")
    lines.append(tail)
    close = Writer()
    close.put("}", "}")
    lines.append(close)
    return lines


def generate(
    modules: int = 30, functions_per_module: int = 24, seed: int = 7
) -> tuple[bytes, bytes, list[tuple[int, int]]]:
    """Minified bundle, its source map, and (1-based line, 1-based column) positions of mapped tokens."""
    rng = random.Random(seed)
    sources, contents, names = [], [], []
    name_index: dict[str, int] = {}
    out_lines: list[str] = []
    segments: list[list[tuple[int, int, int, int, int | None]]] = []
    positions: list[tuple[int, int]] = []
    line = ""
    line_segments: list[tuple[int, int, int, int, int | None]] = []

    def name_id(name: str) -> int:
        if name not in name_index:
            name_index[name] = len(names)
            names.append(name)
        return name_index[name]

    for module in range(modules):
        source_lines = [f"// module {module}: generated for the benchmark", "import { log } from './log';", ""]
        for fn in range(functions_per_module):
            fn_name = f"{rng.choice(['compute', 'render', 'apply', 'load', 'sync'])}{module}Step{fn}"
            mini = f"f{module}_{fn}"
            for writer in function_lines(rng, fn_name, mini, module):
                for min_col, orig_col, token_name in writer.tokens:
                    column = len(line) + min_col
                    name = name_id(token_name) if token_name else None
                    line_segments.append((column, module, len(source_lines), orig_col, name))
                    positions.append((len(out_lines) + 1, column + 1))
                line += writer.minified
                source_lines.append(writer.original)
            source_lines.append("")
            if len(line) > 32_000:
                out_lines.append(line)
                segments.append(line_segments)
                line, line_segments = "", []
        for index in range(7):
            source_lines.append(f"function normalize{module}Value{index}(v) {{ return Number(v) || 0; }}")
        sources.append(f"webpack://shop/src/modules/module{module}.js")
        contents.append("\n".join(source_lines) + "\n")
    if line:
        out_lines.append(line)
        segments.append(line_segments)
    prelude = "var l=function(){};" + "".join(f"var n{i}=function(t){{return+t||0}};" for i in range(7))

    mapping_lines = []
    prev_src = prev_line = prev_col = prev_name = 0
    for line_segments in segments:
        prev_gen = 0
        encoded = []
        for gen_col, src, src_line, src_col, name in line_segments:
            part = vlq(gen_col - prev_gen) + vlq(src - prev_src) + vlq(src_line - prev_line) + vlq(src_col - prev_col)
            prev_gen, prev_src, prev_line, prev_col = gen_col, src, src_line, src_col
            if name is not None:
                part += vlq(name - prev_name)
                prev_name = name
            encoded.append(part)
        mapping_lines.append(",".join(encoded))
    # The prelude sits on its own first line, unmapped; every mapped line moves down by one.
    bundle = prelude + "\n" + "\n".join(out_lines) + "\n//# sourceMappingURL=bundle.js.map\n"
    sourcemap = {
        "version": 3,
        "file": "bundle.js",
        "sources": sources,
        "sourcesContent": contents,
        "names": names,
        "mappings": ";" + ";".join(mapping_lines),
    }
    return bundle.encode(), orjson.dumps(sourcemap), [(line_no + 1, column) for line_no, column in positions]


def main() -> None:
    bundle, sourcemap, positions = generate()
    blob = blobformat.write(blobformat.DataType.SOURCE_AND_MAP, blobformat.encode_source_and_map(bundle, sourcemap))
    print(f"bundle {len(bundle) / 1e6:.2f} MB, source map {len(sourcemap) / 1e6:.2f} MB, blob {len(blob) / 1e6:.2f} MB")

    cold = []
    for _ in range(5):
        started = time.perf_counter()
        parsed = parse(blob, Kind.SOURCEMAP)
        cold.append((time.perf_counter() - started) * 1000)
    cold_ms = statistics.median(cold)
    print(f"cold build (zstd + SourceMapCache) : {cold_ms:7.1f} ms median of 5   (target < {TARGET_COLD_MS} ms)")

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"FAULTLINE_DATA_DIR": tmp, "FAULTLINE_SOURCEMAP_FETCH": "false"})
        db = Database(settings.database_url)
        migrate.upgrade(db.engine)
        with db.write() as session:
            organization = accounts.create_organization(session, "bench")
            project_id = accounts.create_project(session, organization, "bench").id
        runtime = build_runtime(settings)
        key = new_key()
        runtime.storage.put(key, blob)
        with db.write() as session:
            session.add(
                SymbolSet(
                    project_id=project_id,
                    ref="bench-chunk",
                    storage_ptr=key,
                    content_hash=hashlib.sha512(blob).hexdigest(),
                )
            )

        rng = random.Random(11)
        sample = [positions[rng.randrange(len(positions))] for _ in range(WARM_FRAMES)]
        frames = [
            {
                "platform": "web:javascript",
                "filename": "https://shop.example.com/static/bundle.js",
                "function": "t",
                "lineno": line,
                "colno": column,
                "in_app": True,
                "chunk_id": "bench-chunk",
            }
            for line, column in sample
        ]
        resolver = runtime.resolver
        with db.read() as session:
            started = time.perf_counter()
            [first] = resolver.batch(session).resolve(project_id, frames[0])
            first_ms = (time.perf_counter() - started) * 1000
        assert first.contents["resolved"], first.contents["resolve_failure"]
        print(f"first frame of a new set (row + blob + build): {first_ms:7.1f} ms")

        with db.read() as session:
            batch = resolver.batch(session)
            for frame in frames[:500]:
                batch.resolve(project_id, frame)
            started = time.perf_counter()
            resolved = 0
            for frame in frames:
                [result] = batch.resolve(project_id, frame)
                resolved += result.contents["resolved"] and result.contents["resolved_name"] is not None
            warm = len(frames) / (time.perf_counter() - started)
        print(
            f"warm resolver                      : {warm:9,.0f} frames/s ({resolved}/{len(frames)} with function names)"
            f"   (target >= {TARGET_WARM:,})"
        )

        # Baseline: the straightforward use of symbolic — one lookup asking it for the 15 context lines.
        cache = parsed.value.cache
        started = time.perf_counter()
        for frame in frames:
            cache.lookup(frame["lineno"], frame["colno"], 15)
        baseline = len(frames) / (time.perf_counter() - started)
        print(
            f"baseline SourceMapCache.lookup(ctx=15): {baseline:9,.0f} frames/s   "
            f"(full resolver = x{warm / baseline:.2f} of the bare lookup)"
        )
        db.dispose()

    print(
        f"result: cold {'OK' if cold_ms < TARGET_COLD_MS else 'MISSED'}, "
        f"warm {'OK' if warm >= TARGET_WARM else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
