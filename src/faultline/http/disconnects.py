"""A client that goes away before its request body is complete (closed tab, mobile network, SDK timeout, or the
connection guard cutting a body that came too slowly) is routine: one INFO line saying so, not an ERROR with a
traceback. Every endpoint reading a body raises Starlette's `ClientDisconnect` then; this handler catches it."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from faultline.http.errors import APIError, error_response
from faultline.http.guard import CLOSED_BY_SERVER

log = logging.getLogger("faultline.http")


async def client_disconnected(request: Request, _exc: ClientDisconnect) -> Response:
    peer = f"{request.client.host}:{request.client.port}" if request.client else "unknown client"
    declared = request.headers.get("content-length")
    size = f" of {declared} declared bytes" if declared else ""
    closed_by_server = request.scope.get(CLOSED_BY_SERVER)
    if closed_by_server:
        log.info(
            "request body incomplete: %s %s from %s cut by the server (%s)",
            request.method,
            request.url.path,
            peer,
            closed_by_server,
        )
    else:
        log.info(
            "client disconnected before sending its whole request body%s: %s %s from %s",
            size,
            request.method,
            request.url.path,
            peer,
        )
    # Nobody reads this answer (uvicorn drops writes to a closed connection); it only keeps the handler's contract.
    return error_response(
        APIError(400, type="invalid_request", code="client_disconnected", detail="The client disconnected.")
    )
