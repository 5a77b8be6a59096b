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
from faultline.accounts.dsn_router import router as dsn_router
from faultline.accounts.invites_router import router as invites_router
from faultline.accounts.router import router as accounts_router
from faultline.accounts.sentry_api import router as sentry_accounts_router
from faultline.alerts.router import router as alerts_router
from faultline.autocapture import remote_config
from faultline.autocapture.router import router as autocapture_router
from faultline.config import Settings, load_settings
from faultline.http.errors import install_error_handlers
from faultline.http.health import router as health_router
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import include_project_router, install_path_aliases
from faultline.ingest.setup import install_ingest
from faultline.issues.fingerprints_router import router as fingerprints_router
from faultline.issues.insights_router import router as insights_router
from faultline.issues.router import router as issues_router
from faultline.posthog_js import router as posthog_js
from faultline.releases.router import router as releases_router
from faultline.releases.sentry_api import router as sentry_releases_router
from faultline.retention.router import router as storage_router
from faultline.retention.watch import StorageWatch
from faultline.rules.router import router as rules_router
from faultline.runtime import Runtime
from faultline.symbols.frames_router import router as stack_frames_router
from faultline.symbols.sentry_cli_api import router as sentry_cli_router
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
    runtime: Runtime | None = None,
    auto_migrate: bool = True,
) -> FastAPI:
    """The app on `runtime` (built by the caller: `faultline serve`, tests), whose background services run while
    the app does. Without one, the app builds a server runtime without a digest worker from `settings` (or the
    environment) and closes it when it stops."""
    owned = runtime is None
    if runtime is None:
        runtime = Runtime.for_server(settings or load_settings())
    settings = runtime.settings
    database = runtime.db

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if auto_migrate:
            migrate.upgrade(database.engine)
        runtime.start()
        try:
            yield
        finally:
            if owned:
                runtime.close()
            else:
                runtime.stop()

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
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.db = database
    app.state.health_probes = {}
    app.state.degradation_probes = []
    install_error_handlers(app)

    app.include_router(health_router)
    # Capture first: FastAPI matches routes in order, and walking the ~500 API and UI routes before reaching a
    # capture endpoint took two thirds of the HTTP thread's time under load (README "Performance"). No other route
    # matches a capture path (tests/http/test_route_order.py checks), so the order changes nothing else.
    install_ingest(app, runtime.ingest, probe_queue=runtime.digests_in_process)
    app.include_router(accounts_router)
    app.include_router(invites_router)
    include_project_router(app, issues_router)
    include_project_router(app, fingerprints_router)
    include_project_router(app, insights_router)
    include_project_router(app, stack_frames_router)
    include_project_router(app, releases_router)
    include_project_router(app, rules_router)
    include_project_router(app, autocapture_router)
    include_project_router(app, dsn_router)
    include_project_router(app, storage_router)
    app.state.storage_watch = StorageWatch(
        database,
        budget=settings.storage_budget,
        warn_percent=settings.storage_warn_percent,
        data_dir=settings.data_dir,
    )
    app.state.degradation_probes.append(app.state.storage_watch.degradations)
    include_project_router(app, alerts_router)
    remote_config.install(app)
    posthog_js.install(app, settings)
    install_symbols(app)
    # Sentry's management API (`/api/0/…`) for sentry-cli: accounts, releases, chunk upload + artifact bundles.
    app.include_router(sentry_accounts_router)
    app.include_router(sentry_releases_router)
    app.include_router(sentry_cli_router)
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

    install_path_aliases(app)
    return app
