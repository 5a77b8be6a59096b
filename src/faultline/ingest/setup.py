"""Mounts ingestion on the app: capture routes at the root, the diagnostics API under the project prefix, and the
state's health probes. The state itself (and the threads it needs) is built by the composition root."""

from __future__ import annotations

from fastapi import FastAPI

from faultline.http.routing import include_project_router
from faultline.ingest.capture import router as capture_router
from faultline.ingest.diagnostics_api import router as diagnostics_router
from faultline.ingest.sentry import router as sentry_router
from faultline.ingest.state import IngestState


def install_ingest(app: FastAPI, state: IngestState, *, probe_queue: bool = False) -> None:
    """`probe_queue`: report the queue in `/_health` (where this process digests, the queue is part of its health)."""
    app.state.ingest = state
    # Sentry's four routes first: one SDK request carries one event there, where a PostHog batch carries many, so
    # the per-request cost of walking routes weighs more on Sentry traffic (README "Performance").
    app.include_router(sentry_router)
    app.include_router(capture_router)
    include_project_router(app, diagnostics_router)
    if probe_queue:
        app.state.health_probes["queue"] = state.queue_ping
    app.state.degradation_probes.append(state.degradations)
