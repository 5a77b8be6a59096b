"""Jinja2 rendering for the UI: one environment per app, strict about undefined names, autoescaped.

`StrictUndefined` turns a misspelt variable into an error in tests instead of a silently blank cell in production.
Static files get a content hash in their URL so browsers can cache them forever and still see a new release.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from faultline import __version__
from faultline.web import flash, humanize, sparkline

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/_static"

# (key, label, path under /project/<id>/) of the project-level pages, in header order; Settings is always last.
PROJECT_NAV: list[tuple[str, str, str]] = [
    ("issues", "Issues", "issues"),
    ("rules", "Rules", "rules/suppression"),
    ("alerts", "Alerts", "alerts"),
    ("autocapture", "Autocapture", "autocapture"),
    ("symbols", "Symbol sets", "symbol-sets"),
    ("releases", "Releases", "releases"),
    ("ingestion", "Ingestion", "ingestion"),
]

# No inline scripts or styles anywhere in the templates, so the policy can forbid them outright.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _static_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            versions[path.relative_to(STATIC_DIR).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return versions


class Templates:
    def __init__(self, *, public_url: str) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=200,
        )
        self._versions = _static_versions()
        self.env.filters.update(
            reltime=humanize.relative,
            abstime=humanize.absolute,
            isotime=humanize.iso,
            compact=humanize.compact,
            grouped=humanize.grouped,
            user_agent=humanize.user_agent,
        )
        self.env.globals.update(
            static=self.static_url,
            sparkline=sparkline.bars,
            public_url=public_url,
            version=__version__,
            project_nav=PROJECT_NAV,
        )

    def static_url(self, name: str) -> str:
        return f"{STATIC_PREFIX}/{name}?v={self._versions.get(name, __version__)}"

    def render_string(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    def response(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        messages = flash.pop(request)
        state = request.state
        values: dict[str, Any] = {
            "request": request,
            "viewer": getattr(state, "viewer", None),
            "csrf_token": getattr(getattr(state, "web_session", None), "csrf_token", ""),
            "flashes": messages,
            "page_title": "",
            "project": None,
            "nav": "",
            "switch_section": "",
        }
        values.update(context or {})
        viewer = values["viewer"]
        token = humanize.VIEWER_ZONE.set(getattr(getattr(viewer, "user", None), "time_zone", None))
        try:
            body = self.render_string(name, values)
        finally:
            humanize.VIEWER_ZONE.reset(token)
        response = HTMLResponse(body, status_code=status_code)
        response.headers.update(SECURITY_HEADERS)
        if headers:
            response.headers.update(headers)
        if messages:
            flash.clear(response)
        return response


def get_templates(request: Request) -> Templates:
    return request.app.state.web_templates
