"""Mounts ingestion on the app: capture routes at the root, the diagnostics API under the project prefix, the
shared state, and start/stop hooks for the diagnostics flusher and (optionally) the embedded digest worker."""

from __future__ import annotations

from fastapi import FastAPI

from faultline.config import Settings
from faultline.db import Database
from faultline.http.routing import include_project_router
from faultline.ingest.posthog import router as capture_router
from faultline.ingest.router import router as diagnostics_router
from faultline.ingest.state import IngestState


def install_ingest(app: FastAPI, settings: Settings, db: Database, *, embedded_worker: bool = False) -> IngestState:
    state = IngestState(settings, db, embedded_worker=embedded_worker)
    app.state.ingest = state
    app.include_router(capture_router)
    include_project_router(app, diagnostics_router)
    app.state.startup_hooks.append(state.start)
    app.state.shutdown_hooks.append(state.stop)
    if embedded_worker:
        app.state.health_probes["queue"] = state.queue_ping
    return state
