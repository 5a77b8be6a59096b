"""Builds the FastAPI application: shared conventions first, then every domain's router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from faultline import __version__, migrate, web
from faultline.accounts.router import router as accounts_router
from faultline.autocapture import remote_config
from faultline.autocapture.router import router as autocapture_router
from faultline.config import Settings, load_settings
from faultline.db import Database
from faultline.http.errors import install_error_handlers
from faultline.http.health import router as health_router
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import include_project_router
from faultline.ingest.setup import install_ingest
from faultline.issues.fingerprints_router import router as fingerprints_router
from faultline.issues.router import router as issues_router
from faultline.posthog_js import router as posthog_js
from faultline.releases.router import router as releases_router
from faultline.rules.router import router as rules_router
from faultline.symbols.frames_router import router as stack_frames_router
from faultline.symbols.setup import install_symbols

log = logging.getLogger(__name__)

API_DESCRIPTION = """
Faultline implements PostHog's Error Tracking REST API. Authenticate with a personal API key:
`Authorization: Bearer phx_…`. Every project-scoped route is served under
`/api/environments/{project_id}/…` (documented here) and `/api/projects/{project_id}/…`; every path works with
and without its trailing slash. Lists use limit/offset pagination (`count`, `next`, `previous`, `results`);
errors are `{"type", "code", "detail", "attr"}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    auto_migrate: bool = True,
    embedded_worker: bool = False,
) -> FastAPI:
    """`embedded_worker`: also run the digest worker in this process (what `faultline serve` does by default)."""
    settings = settings or load_settings()
    database = db or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if auto_migrate:
            migrate.upgrade(database.engine)
        for start in app.state.startup_hooks:
            start()
        yield
        for stop in reversed(app.state.shutdown_hooks):
            stop()
        if db is None:
            database.dispose()

    app = FastAPI(
        title="Faultline",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/schema/",
        docs_url=None,
        redoc_url=None,
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.db = database
    app.state.health_probes = {}
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    install_error_handlers(app)

    app.include_router(health_router)
    app.include_router(accounts_router)
    include_project_router(app, issues_router)
    include_project_router(app, fingerprints_router)
    include_project_router(app, stack_frames_router)
    include_project_router(app, releases_router)
    include_project_router(app, rules_router)
    include_project_router(app, autocapture_router)
    remote_config.install(app)
    posthog_js.install(app, settings)
    install_symbols(app, database, run_repairs=embedded_worker)
    install_ingest(app, settings, database, embedded_worker=embedded_worker)
    web.install(app)

    @app.get("/api/schema", include_in_schema=False)
    def schema_no_slash() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/schema/swagger-ui/", include_in_schema=False)
    @app.get("/api/schema/swagger-ui", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/schema/", title="Faultline API")

    @app.get("/", include_in_schema=False, response_model=None)
    def index(request: Request) -> dict[str, str] | RedirectResponse:
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/projects/", status_code=303)  # browsers go to the UI
        return {"name": "faultline", "version": __version__, "api_docs": "/api/schema/swagger-ui/"}

    return app
