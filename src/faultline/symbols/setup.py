"""Mounts the symbol-set API and the signed blob URLs, and — where the digest worker runs in this process — the
background thread that re-symbolicates stored events after late uploads."""

from __future__ import annotations

from fastapi import FastAPI

from faultline.db import Database
from faultline.http.routing import include_project_router
from faultline.symbols.blobroutes import router as blobs_router
from faultline.symbols.repair import RepairRunner
from faultline.symbols.router import router as symbol_sets_router
from faultline.symbols.runtime import runtime_for


def install_symbols(app: FastAPI, db: Database, *, run_repairs: bool = False) -> None:
    include_project_router(app, symbol_sets_router)
    app.include_router(blobs_router)
    if run_repairs:
        runner = RepairRunner(db, runtime_for(app.state))
        app.state.symbol_repairs = runner
        app.state.startup_hooks.append(runner.start_thread)
        app.state.shutdown_hooks.append(runner.stop)
