"""Golden frames and fingerprints: every recorded `$exception` sample through the real digest pipeline.

Issue 13 restructures the pipeline, the per-platform frame code and the symbol resolver's seam without changing
what they produce. This test pins what they produce today — the resolved `$exception_list` (frame contents, raw
ids, order of keys included), the metadata properties, the fingerprint and its record, and the stack-frame rows
with their context lines — for each recorded SDK sample in shared/samples: posthog-python (v0, v1, gzip,
autocapture), posthog-js (manual, autocapture, uncompressed, gzip-js) without symbols, with the recorded PostHog
symbol-set blob and with the js_bundle's injected script + source map uploaded as a set, and the real-browser batch
without symbols and with the bundle's minified script + map uploaded for its URL. One synthetic event carries a
frame of every platform the digest knows, so the platforms without a recorded sample are pinned as well.

The comparison is on the serialised JSON text, so key order counts. Only volatile values are normalised: the
exception ids the parser mints (uuid7), symbol-set ids (replaced by the set's ref). Recorded times are rebased to
now by the sample loader but none of the compared values depends on them.

Regenerate (only when a change of output is intended): FAULTLINE_UPDATE_GOLDEN=1 pytest tests/pipeline/test_golden.py
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from faultline.config import Settings
from faultline.pipeline.digest import Pipeline
from faultline.symbols import blobformat
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.symbols.runtime import runtime_for
from tests.conftest import make_settings
from tests.support.ingest import SAMPLES, ingest, load_sample_events, python_frame
from tests.support.sample_time import rebase_sample
from tests.symbols.support import CHUNK_ID, store_symbol_set

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FAULTLINE_UPDATE_GOLDEN") == "1"
BUNDLE = SAMPLES / "js_bundle"
BROWSER_APP_URL = "http://127.0.0.1:3000/static/app.js"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _events(name: str) -> list[dict[str, Any]]:
    if name.endswith((".gz", ".body")):
        body = rebase_sample(orjson.loads(gzip.decompress((SAMPLES / name).read_bytes())), SAMPLES)
        events = list(body["batch"]) if isinstance(body, dict) else list(body)
    else:
        events = load_sample_events(name)
    return [e for e in events if e.get("event") == "$exception"]


def _bundle_blob(script: str, sourcemap: str) -> bytes:
    payload = blobformat.encode_source_and_map((BUNDLE / script).read_bytes(), (BUNDLE / sourcemap).read_bytes())
    return blobformat.write(blobformat.DataType.SOURCE_AND_MAP, payload)


# Symbol sets per variant: (ref, blob).
SYMBOLS: dict[str, list[tuple[str, bytes]]] = {
    "none": [],
    "posthog_blob": [(CHUNK_ID, (SAMPLES / "posthog_symbol_set_sourceandmap_v2.bin").read_bytes())],
    "bundle_injected": [(CHUNK_ID, _bundle_blob("app.injected.js", "app.injected.js.map"))],
    "bundle_min_by_url": [(BROWSER_APP_URL, _bundle_blob("app.min.js", "app.min.js.map"))],
}

PYTHON = [
    "posthog_python_exception.json",
    "posthog_python_exception_autocapture.json",
    "posthog_python_exception_v1.json",
    "posthog_python_exception_v0_gzip.body.gz",
]
JS = [
    "posthog_js_exception.json",
    "posthog_js_exception_autocapture.json",
    "posthog_js_exception_uncompressed.json",
    "posthog_js_exception.gzip-js.body",
]
BROWSER = ["browser/posthog_js_browser_exceptions.json", "browser/posthog_js_browser_exceptions.gzip-js.body"]

CASES = (
    [(name, "none") for name in PYTHON]
    + [(name, variant) for name in JS for variant in ("none", "posthog_blob", "bundle_injected")]
    + [(name, variant) for name in BROWSER for variant in ("none", "bundle_min_by_url")]
    + [("synthetic:every_platform", "none")]
)


def _synthetic() -> list[dict[str, Any]]:
    """Hand-made frames of each platform (no recorded sample has them), with and without context lines."""
    context = {"context_line": "  raise Boom", "pre_context": ["def f():", "  x = 1"], "post_context": ["", "# end"]}
    frames: list[dict[str, Any]] = [
        python_frame("handler", 12, code_variables={"x": "1", "y": "'two'"}),
        {"platform": "python", "filename": "lib/ext.py", "function": "call", "lineno": 3, "in_app": False},
        {
            "platform": "node:javascript",
            "filename": "/srv/app/server.js",
            "function": "route",
            "lineno": 40,
            "colno": 7,
            "module": "server",
            "in_app": True,
            **context,
        },
        {
            "platform": "node:javascript",
            "filename": "/srv/app/dist/main.js",
            "function": "a",
            "lineno": 1,
            "colno": 812,
            "chunk_id": "node-chunk-1",
            "in_app": True,
            **context,
        },
        {
            "platform": "ruby",
            "filename": "app/models/user.rb",
            "function": "save",
            "lineno": 9,
            "module": "User",
            "in_app": True,
            **context,
        },
        {"platform": "go", "filename": "main.go", "function": "main.handler", "lineno": 27, "in_app": True},
        {
            "platform": "java",
            "filename": "Main.java",
            "function": "a",
            "lineno": 5,
            "module": "a.b.C",
            "map_id": "proguard-1",
            "in_app": True,
        },
        {"platform": "java", "filename": "Main.java", "function": "run", "lineno": 8, "module": "com.x.Main"},
        {
            "platform": "dart",
            "filename": "main.dart",
            "abs_path": "package:app/main.dart",
            "package": "app",
            "function": "build",
            "lineno": 14,
            "colno": 3,
            "in_app": True,
        },
        {
            "platform": "hermes",
            "filename": "index.android.bundle",
            "function": "onPress",
            "colno": 1234,
            "chunkId": "hermes-chunk-1",
            "in_app": True,
        },
        {"platform": "hermes", "filename": "index.android.bundle", "function": "render", "colno": 99},
        {
            "platform": "custom",
            "lang": "elixir",
            "filename": "lib/app.ex",
            "function": "run/1",
            "lineno": 4,
            "colno": 2,
            "module": "App",
            "resolved": True,
            "in_app": True,
            **context,
        },
        {"platform": "custom", "filename": "x.cob", "function": "PARA-1", "lineno": 7, "resolved": False},
        {
            "platform": "web:javascript",
            "filename": "https://cdn.example.com/app.js",
            "function": "go",
            "lineno": 1,
            "colno": 20,
            "in_app": True,
        },
        {"platform": "web:javascript", "filename": "<anonymous>", "function": "eval"},
        {
            "platform": "javascript",
            "filename": "http://localhost:8080/dev.js",
            "function": "tick",
            "lineno": 3,
            "colno": 400,
            "synthetic": True,
        },
        {"platform": "cobol", "filename": "legacy.cbl", "function": "MAIN", "lineno": 1, **context},
        {"filename": "noplatform.txt", "function": "f", "lineno": 2},
    ]
    exception = {
        "type": "Boom",
        "value": "every platform",
        "mechanism": {"type": "generic", "handled": False},
        "stacktrace": {"type": "raw", "frames": frames},
    }
    cause = {"type": "Cause", "value": "root", "stacktrace": {"type": "raw", "frames": [frames[5]]}}
    return [
        {
            "event": "$exception",
            "uuid": "01938a3c-0000-7000-8000-000000000001",
            "distinct_id": "golden",
            "properties": {"$lib": "posthog-python", "$lib_version": "7.91.1", "$exception_list": [exception, cause]},
        }
    ]


class _Names:
    """Volatile ids → stable placeholders, numbered in order of first appearance."""

    def __init__(self, sets: dict[str, str]) -> None:
        self.sets = sets
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str) and UUID.match(value):
            if value in self.sets:
                return f"<symbol set {self.sets[value]}>"
            return self.seen.setdefault(value, f"<{key or 'id'} {len(self.seen)}>")
        return value


RECORDED = (
    "$exception_list",
    "$exception_types",
    "$exception_values",
    "$exception_sources",
    "$exception_functions",
    "$exception_handled",
    "$exception_fingerprint",
    "$exception_fingerprint_record",
    "$exception_fingerprint_version",
)


def _golden_name(sample: str, variant: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{sample}__{variant}") + ".json"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Fetching is off: a fetch of a sample's localhost script would only add a machine-dependent failure text.
    return make_settings(tmp_path / "data", FAULTLINE_SOURCEMAP_FETCH="false")


@pytest.mark.parametrize(("sample", "variant"), CASES, ids=[f"{s}-{v}" for s, v in CASES])
def test_sample_resolves_to_golden_frames_and_fingerprints(app, seed, sample: str, variant: str) -> None:
    db, tenant = app.state.db, seed
    project_id = tenant.project.id
    runtime = runtime_for(app.state)
    for ref, blob in SYMBOLS[variant]:
        store_symbol_set(db, runtime.storage, project_id, ref, blob)
    events = _synthetic() if sample.startswith("synthetic:") else _events(sample)
    assert events, sample
    pipeline = Pipeline(db, symbols=app.state.runtime.symbols.resolver)
    outcomes = ingest(db, project_id, events, pipeline=pipeline)

    with db.read() as session:
        sets = {str(row.id): row.ref for row in session.scalars(sa.select(SymbolSet))}
        frames = session.scalars(
            sa.select(StackFrame)
            .where(StackFrame.project_id == project_id)
            .order_by(StackFrame.raw_id, StackFrame.part)
        ).all()
        rows = [
            {
                "raw_id": f.raw_id,
                "part": f.part,
                "resolved": f.resolved,
                "contents": f.contents,
                "context": f.context,
                "symbol_set_id": str(f.symbol_set_id) if f.symbol_set_id else None,
            }
            for f in frames
        ]
    names = _Names(sets)
    result = {
        "events": [
            {
                "status": out.status,
                "fingerprint": out.fingerprint,
                "properties": {k: out.properties[k] for k in RECORDED if out.properties and k in out.properties},
            }
            for out in outcomes
        ],
        "stack_frames": rows,
    }
    text = orjson.dumps(names(result), option=orjson.OPT_INDENT_2) + b"\n"
    path = GOLDEN / _golden_name(sample, variant)
    if UPDATE:
        path.write_bytes(text)
    assert path.exists(), f"no golden file {path.name}: run with FAULTLINE_UPDATE_GOLDEN=1"
    assert text.decode() == path.read_text(), f"{sample} ({variant}) no longer resolves as recorded in {path.name}"
    assert all(out.status == "stored" for out in outcomes)
