"""The server-rendered web UI, mounted on the API's app by `install(app)`.

Pages are Jinja2 templates over the same domain services the REST API calls; the only logic that lives here is
presentation (relative times, sparklines, stack-trace layout) and the browser session (login, CSRF, throttling).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from faultline.web.compression import UIGZipMiddleware
from faultline.web.errors import install_handlers
from faultline.web.middleware import SessionMiddleware
from faultline.web.templating import STATIC_DIR, STATIC_PREFIX, Templates


def install(app: FastAPI) -> None:
    from faultline.web.views import (
        account,
        alerts,
        auth,
        autocapture,
        ingestion,
        invites,
        issue_actions,
        issue_detail,
        issues,
        organizations,
        projects,
        rules,
        symbols,
    )

    app.state.web_templates = Templates(public_url=app.state.settings.public_url)
    app.add_middleware(SessionMiddleware)
    # Outermost of the UI's middleware, so pages and error pages alike are compressed.
    app.add_middleware(UIGZipMiddleware)
    install_handlers(app)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="web-static")
    for module in (
        auth,
        account,
        organizations,
        invites,
        projects,
        issues,
        issue_detail,
        issue_actions,
        rules,
        alerts,
        autocapture,
        symbols,
        ingestion,
    ):
        app.include_router(module.router)
