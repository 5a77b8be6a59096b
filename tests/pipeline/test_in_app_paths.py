"""In-app when the SDK does not say: library paths per platform are not the user's code; everything else still is,
and an explicit `in_app` always wins (tests/pipeline/test_golden.py pins that recorded samples are unchanged)."""

from __future__ import annotations

from typing import Any

import pytest

from faultline.db import Database
from faultline.platforms import in_app, platform_of
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest


def _decided(frame: dict[str, Any]) -> bool | None:
    [resolved] = platform_of(frame).resolve(frame, "x")
    return resolved.frame.in_app


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # Python: stdlib by path (Unix, pyenv, Windows, frozen), installed packages, stdlib module without a path.
        ({"platform": "python", "abs_path": "/usr/lib/python3.11/urllib/request.py", "module": "urllib.x"}, False),
        ({"platform": "python", "abs_path": "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py"}, False),
        ({"platform": "python", "abs_path": "C:\\Python311\\Lib\\http\\client.py"}, False),
        ({"platform": "python", "filename": "<frozen runpy>", "module": "runpy"}, False),
        ({"platform": "python", "abs_path": "/srv/.venv/lib/python3.11/site-packages/requests/api.py"}, False),
        ({"platform": "python", "abs_path": "/usr/lib/python3/dist-packages/yaml/__init__.py"}, False),
        ({"platform": "python", "filename": "urllib/request.py", "module": "urllib.request"}, False),
        # … the application's own files stay in-app, even when named like a stdlib module.
        ({"platform": "python", "abs_path": "/app/shop/views.py", "module": "shop.views"}, True),
        ({"platform": "python", "abs_path": "/app/email/send.py", "module": "email.send"}, True),
        ({"platform": "python", "filename": "shop/views.py", "module": "shop.views"}, True),
        # The SDK's word wins both ways.
        ({"platform": "python", "abs_path": "/usr/lib/python3.11/json/decoder.py", "in_app": True}, True),
        ({"platform": "python", "abs_path": "/app/main.py", "in_app": False}, False),
        # Node: node_modules and the runtime's internals.
        ({"platform": "node:javascript", "filename": "/srv/node_modules/express/lib/router.js"}, False),
        ({"platform": "node:javascript", "filename": "node:internal/process/task_queues"}, False),
        ({"platform": "node:javascript", "filename": "/srv/app/server.js"}, True),
        # Browser: a bundled node_modules path.
        ({"platform": "web:javascript", "filename": "https://x.test/node_modules/react-dom/index.js"}, False),
        ({"platform": "web:javascript", "filename": "https://x.test/static/app.js"}, True),
        # Ruby gems, Go module cache and runtime, JVM platform classes, Dart SDK and Flutter.
        ({"platform": "ruby", "filename": "/usr/local/bundle/gems/rack-3.0/lib/rack.rb"}, False),
        ({"platform": "ruby", "filename": "app/models/user.rb"}, True),
        ({"platform": "go", "filename": "/root/go/pkg/mod/github.com/x/y@v1/z.go", "function": "y.Z"}, False),
        ({"platform": "go", "filename": "/usr/local/go/src/net/http/server.go", "function": "http.serve"}, False),
        ({"platform": "go", "filename": "main.go", "function": "main.handler"}, True),
        ({"platform": "java", "filename": "Thread.java", "function": "run", "module": "java.lang.Thread"}, False),
        ({"platform": "java", "filename": "Main.java", "function": "run", "module": "com.x.Main"}, True),
        ({"platform": "dart", "abs_path": "package:flutter/src/widgets/framework.dart", "function": "b"}, False),
        ({"platform": "dart", "abs_path": "package:app/main.dart", "function": "build"}, True),
    ],
)
def test_in_app_from_paths(frame: dict[str, Any], expected: bool) -> None:
    frame = {"function": "f", "lineno": 1, **frame}
    assert _decided(frame) is expected


def test_sdk_says_is_only_a_bool() -> None:
    assert in_app.sdk_says({"in_app": "false"}) is None
    assert in_app.sdk_says({"in_app": False}) is False


def test_stdlib_frame_no_longer_opens_the_trace(db: Database, seed: Tenant) -> None:
    """An SDK that leaves in_app unset (posthog-python without a project root): urllib's frames are library code,
    so the metadata names the application's file and function only."""
    frames = [
        {
            "platform": "python",
            "filename": "app/fetch.py",
            "abs_path": "/srv/app/fetch.py",
            "function": "load_prices",
            "module": "app.fetch",
            "lineno": 12,
        },
        {
            "platform": "python",
            "filename": "urllib/request.py",
            "abs_path": "/usr/lib/python3.11/urllib/request.py",
            "function": "urlopen",
            "module": "urllib.request",
            "lineno": 216,
        },
    ]
    [outcome] = ingest(db, seed.project, [exception_event("URLError", "refused", frames=frames)])
    props = outcome.properties
    assert props is not None
    stored = props["$exception_list"][0]["stacktrace"]["frames"]
    assert [f["in_app"] for f in stored] == [True, False]
    assert props["$exception_sources"] == ["app/fetch.py"]
    assert props["$exception_functions"] == ["load_prices"]
