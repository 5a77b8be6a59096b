"""Liveness/readiness: `GET /_health` for load balancers, monitoring and the CLI test.

Three states. `ok` (200). `error` (503): the database or the queue does not answer — this process can serve
nothing useful, take it out of rotation. `degraded` (200, with `reasons`): it answers, but something needs a
person — queue writes failing (a full disk: capture answers 503 so SDKs keep their events and retry), or a backlog
over FAULTLINE_HEALTH_BACKLOG_THRESHOLD. Degraded stays 200 on purpose: pulling the node would not free the disk or
speed the digest up, and would hide the web UI whose diagnostics page says what is wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from faultline import __version__
from faultline.http.responses import ORJSONResponse

router = APIRouter(tags=["health"])


def degradations(request: Request) -> list[dict[str, Any]]:
    """Every registered probe's reasons (`{"code", "detail", "since"}`); a failing probe is a reason itself."""
    reasons: list[dict[str, Any]] = []
    for probe in getattr(request.app.state, "degradation_probes", []):
        try:
            reasons.extend(probe())
        except Exception as exc:  # a probe must never turn the health check into a 500
            reasons.append({"code": "probe_failed", "detail": f"{type(exc).__name__}: {exc}", "since": None})
    return reasons


@router.get("/_health", summary="Health check", response_class=ORJSONResponse)
def health(request: Request) -> ORJSONResponse:
    checks: dict[str, Any] = {"database": "ok" if request.app.state.db.ping() else "unreachable"}
    for name, probe in getattr(request.app.state, "health_probes", {}).items():
        try:
            checks[name] = "ok" if probe() else "unreachable"
        except Exception as exc:  # a probe must never turn the health check into a 500
            checks[name] = f"error: {type(exc).__name__}"
    reasons = degradations(request)
    if any(value != "ok" for value in checks.values()):
        status, code = "error", 503
    else:
        status, code = ("degraded" if reasons else "ok"), 200
    return ORJSONResponse({"status": status, "version": __version__, **checks, "reasons": reasons}, status_code=code)
