"""SDK setup snippets for a project, pointing at this server's public URL (what a user copies into their app)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    language: str
    code: str
    note: str = ""


def for_project(token: str, public_url: str) -> list[Snippet]:
    host = public_url.rstrip("/")
    js_token, js_host = json.dumps(token), json.dumps(host)
    py_token, py_host = repr(token), repr(host)
    curl_body = json.dumps(
        {
            "api_key": token,
            "event": "$exception",
            "distinct_id": "setup-check",
            "properties": {"$exception_list": [{"type": "Error", "value": "Hello from curl: setup works"}]},
        }
    )
    return [
        Snippet(
            "posthog-js",
            "Browser: posthog-js",
            "js",
            "// npm install posthog-js\n"
            "// 'posthog-js/full' bundles exception autocapture; the default 'posthog-js' build loads it from this\n"
            "// server, which needs `faultline posthog-js install` once.\n"
            "import posthog from 'posthog-js/full'\n\n"
            f"posthog.init({js_token}, {{\n"
            f"  api_host: {js_host},\n"
            "  capture_exceptions: true,  // uncaught errors and unhandled rejections\n"
            "})\n\n"
            "// handled errors:\n"
            "try { risky() } catch (err) { posthog.captureException(err) }\n",
            "Exception autocapture also follows this project's setting below (served to the SDK as remote config).",
        ),
        Snippet(
            "posthog-python",
            "Python: posthog",
            "python",
            "# pip install posthog\n"
            "from posthog import Posthog\n\n"
            f"posthog = Posthog({py_token}, host={py_host}, enable_exception_autocapture=True)\n\n"
            "try:\n"
            "    risky()\n"
            "except Exception as exc:\n"
            '    posthog.capture_exception(exc, distinct_id="user-123")\n',
        ),
        Snippet(
            "curl",
            "Check the connection: curl",
            "shell",
            f"curl -X POST {host}/i/v0/e/ \\\n  -H 'Content-Type: application/json' \\\n  -d '{curl_body}'\n",
            "Sends one test exception; it should appear in the issue list within seconds.",
        ),
    ]
