"""Which URLs belong to the UI (HTML pages) rather than the REST API or the capture endpoints."""

from __future__ import annotations

WEB_PREFIXES = ("/login", "/logout", "/account", "/organizations", "/projects", "/project/")


def is_web_path(path: str) -> bool:
    return path.startswith(WEB_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def safe_next(target: str | None, default: str = "/projects/") -> str:
    """Only same-site relative paths are followed after login (no open redirects via `?next=//evil`)."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target
