"""Mounts the symbol-set API and the signed blob URLs. The symbols runtime they use, and the background thread that
re-symbolicates stored events after late uploads, are built by the composition root (`faultline.runtime`)."""

from __future__ import annotations

from fastapi import FastAPI

from faultline.http.routing import include_project_router
from faultline.symbols.blobroutes import router as blobs_router
from faultline.symbols.router import router as symbol_sets_router


def install_symbols(app: FastAPI) -> None:
    include_project_router(app, symbol_sets_router)
    app.include_router(blobs_router)
