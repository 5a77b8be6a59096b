"""Is a frame the user's code? The SDK's `in_app` when it says; otherwise a per-platform guess from the frame's path.

PostHog's spec makes an absent `in_app` true, so when an SDK leaves it unset (sentry-python and posthog-python do
for the standard library unless a project root is configured) `urllib/request.py` counted as the user's code: the
stack trace opened on urllib's frame, library runs were not folded and `$exception_sources` named urllib. These
rules only ever answer "library" for paths that cannot be the application's own — an installed-package directory,
the language's standard library, the runtime's internals — and leave every other frame in-app as before; an
explicit `in_app` from the SDK always wins. `in_app` takes part in the fingerprint (spec §5.5: the in-app frames are
hashed), so only events whose SDK left it unset on such a frame group differently; recorded samples do not change.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from faultline.platforms._common import RawData

# Top-level modules of the interpreter's standard library (Python ≥ 3.10 lists them).
_PY_STDLIB = frozenset(sys.stdlib_module_names) - {"__main__"}
_PY_LIBRARY_PATH = re.compile(
    r"[/\\](?:site|dist)-packages[/\\]"  # pip-installed packages, virtualenvs, Debian's dist-packages
    r"|[/\\]lib[/\\](?:pypy|python)\d[\d.]*[/\\]"  # the standard library of a Unix install (/usr/lib/python3.11/)
    r"|^[A-Za-z]:\\.*\\Lib\\"  # … and of a Windows one (C:\Python311\Lib\)
    r"|^<frozen "  # frozen stdlib modules (<frozen runpy>)
)
_NODE_LIBRARY_PATH = re.compile(r"[/\\]node_modules[/\\]|^node:|^internal[/\\]")
_RUBY_LIBRARY_PATH = re.compile(r"[/\\]gems[/\\]|[/\\]lib[/\\]ruby[/\\]\d|[/\\]rubygems[/\\]")
_GO_LIBRARY_PATH = re.compile(r"[/\\]pkg[/\\]mod[/\\]|[/\\]go[/\\]src[/\\]|^runtime[/\\]|[/\\]vendor[/\\]")
_GO_LIBRARY_FUNCTION = re.compile(r"^(?:runtime|net/http|net|syscall|reflect|testing)\.")
_JVM_LIBRARY_MODULE = re.compile(
    r"^(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|android|androidx|dalvik|com\.android|okhttp3|retrofit2"
    r"|org\.springframework|org\.apache|io\.netty|com\.google\.android)\."
)
_DART_LIBRARY_PATH = re.compile(r"^dart:|^package:flutter/")


def _strings(frame: RawData, *keys: str) -> list[str]:
    return [value for key in keys if isinstance(value := frame.get(key), str) and value]


def sdk_says(frame: RawData) -> bool | None:
    value = frame.get("in_app")
    return value if isinstance(value, bool) else None


def python_library(frame: RawData) -> bool:
    paths = _strings(frame, "abs_path", "filename")
    if any(_PY_LIBRARY_PATH.search(path) for path in paths):
        return True
    if any(path.startswith("/") or ":\\" in path for path in paths):
        return False  # an absolute path outside the library directories: the application's own file
    module = frame.get("module")
    return isinstance(module, str) and module.split(".", 1)[0] in _PY_STDLIB


def node_library(frame: RawData) -> bool:
    return any(_NODE_LIBRARY_PATH.search(path) for path in _strings(frame, "abs_path", "filename"))


def browser_library(frame: RawData) -> bool:
    return any("/node_modules/" in path for path in _strings(frame, "abs_path", "filename"))


def ruby_library(frame: RawData) -> bool:
    return any(_RUBY_LIBRARY_PATH.search(path) for path in _strings(frame, "abs_path", "filename"))


def go_library(frame: RawData) -> bool:
    if any(_GO_LIBRARY_PATH.search(path) for path in _strings(frame, "abs_path", "filename")):
        return True
    return any(_GO_LIBRARY_FUNCTION.search(name) for name in _strings(frame, "function"))


def jvm_library(frame: RawData) -> bool:
    return any(_JVM_LIBRARY_MODULE.search(name) for name in _strings(frame, "module"))


def dart_library(frame: RawData) -> bool:
    return any(_DART_LIBRARY_PATH.search(path) for path in _strings(frame, "abs_path", "filename"))


def decide(frame: RawData, library: Callable[[RawData], bool]) -> bool:
    """The SDK's answer, else "not a library path"."""
    said = sdk_says(frame)
    return said if said is not None else not library(frame)
