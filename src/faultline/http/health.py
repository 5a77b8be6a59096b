"""Liveness/readiness: `GET /_health` says whether the database answers (load balancers and the CLI test use it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from faultline import __version__
from faultline.http.responses import ORJSONResponse

router = APIRouter(tags=["health"])


@router.get("/_health", summary="Health check", response_class=ORJSONResponse)
def health(request: Request) -> ORJSONResponse:
    checks: dict[str, Any] = {"database": "ok" if request.app.state.db.ping() else "unreachable"}
    for name, probe in getattr(request.app.state, "health_probes", {}).items():
        try:
            checks[name] = "ok" if probe() else "unreachable"
        except Exception as exc:  # a probe must never turn the health check into a 500
            checks[name] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return ORJSONResponse(
        {"status": "ok" if healthy else "error", "version": __version__, **checks},
        status_code=200 if healthy else 503,
    )
