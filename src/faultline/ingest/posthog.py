"""PostHog capture endpoints: what unmodified posthog-python / posthog-js (and PostHog's documented manual
capture) POST to, answered the way PostHog answers.

The request path does only: size cap while reading → decode → JSON → token → light checks → durable enqueue →
answer. The SDK hears 200 only after the queue transaction committed. Non-`$exception` events are acknowledged
and counted but not stored: this is an error tracker, and refusing them would make the SDK retry forever.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.responses import Response

from faultline.http import errors
from faultline.http.cors import cors_headers, preflight_response
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.ingest import diagnostics as diag
from faultline.ingest.decode import decode_body
from faultline.ingest.envelope import (
    EXCEPTION_EVENT,
    EventRejected,
    check_event,
    event_uuid,
    parse_envelope,
    queue_payload,
)
from faultline.ingest.state import IngestState

log = logging.getLogger(__name__)
router = Router(tags=["capture"])

V0_PATHS = ("/batch/", "/e/", "/i/v0/e/", "/capture/", "/track/")
V1_PATH = "/i/v1/analytics/events"
_OFFLOAD_BYTES = 256 * 1024  # decode bigger bodies off the event loop

MISSING_TOKEN = (
    "API key not provided. You can find your project API key in your Faultline project settings (`faultline projects`)."
)
INVALID_TOKEN = (
    "Project API key invalid. You can find your project API key in your Faultline project settings "
    "(`faultline projects`)."
)


def _state(request: Request) -> IngestState:
    return request.app.state.ingest


def _bearer(request: Request) -> str | None:
    scheme, _, value = (request.headers.get("authorization") or "").strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.payload_too_large(f"Request body is larger than {limit} bytes.")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise errors.payload_too_large(f"Request body is larger than {limit} bytes.")
    return bytes(chunks)


class _Accepted:
    """What one capture request produced: queue items and per-event results (for the V1 answer)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.non_exception = 0


async def _receive(request: Request, *, v1: bool) -> tuple[int, _Accepted]:
    state = _state(request)
    settings = state.settings
    body = await _read_body(request, settings.max_body_bytes)
    if not body:
        raise errors.parse_error("Empty request body.")
    kwargs = {
        "content_encoding": request.headers.get("content-encoding"),
        "content_type": request.headers.get("content-type"),
        "compression": request.query_params.get("compression"),
        "max_decompressed_bytes": settings.max_decompressed_bytes,
    }
    if len(body) > _OFFLOAD_BYTES:
        data = await anyio.to_thread.run_sync(lambda: decode_body(body, **kwargs))
        envelope = await anyio.to_thread.run_sync(parse_envelope, data)
    else:
        envelope = parse_envelope(decode_body(body, **kwargs))

    token = (_bearer(request) or envelope.token) if v1 else (envelope.token or _bearer(request))
    if not token:
        state.diagnostics.error(None, "missing_token", MISSING_TOKEN, {"path": request.url.path})
        raise errors.APIError(401, type="authentication_error", code="missing_api_key", detail=MISSING_TOKEN)
    if state.tokens.cached(token):
        project_id = state.tokens.lookup(token)
    else:
        project_id = await anyio.to_thread.run_sync(state.tokens.lookup, token)
    if project_id is None:
        state.diagnostics.error(None, "invalid_token", INVALID_TOKEN, {"token": token[:64], "path": request.url.path})
        raise errors.APIError(401, type="authentication_error", code="invalid_api_key", detail=INVALID_TOKEN)

    sent_at = envelope.sent_at
    if v1 and sent_at is None:
        sent_at = request.headers.get("posthog-request-timestamp")
    sdk_info = request.headers.get("posthog-sdk-info") if v1 else None
    received_at = dt.datetime.now(dt.UTC)
    accepted = _Accepted()
    for index, event in enumerate(envelope.events):
        try:
            check_event(event, index)
        except EventRejected as exc:
            state.diagnostics.count(project_id, diag.REJECTED_INVALID)
            state.diagnostics.error(project_id, "invalid_event", exc.detail, {"attr": exc.attr})
            if not v1:
                raise errors.validation_error(exc.detail, exc.attr, code="invalid_event") from None
            if isinstance(event, dict) and isinstance(event.get("uuid"), str):
                accepted.results[event["uuid"][:64]] = {"result": "drop", "details": f"{exc.attr}: {exc.detail}"}
            continue
        uuid_text = event_uuid(event)
        if event["event"] != EXCEPTION_EVENT:
            accepted.non_exception += 1
            accepted.results[uuid_text] = {"result": "ok"}
            continue
        event["uuid"] = uuid_text
        try:
            payload = queue_payload(event, sent_at=sent_at, received_at=received_at, sdk_info=sdk_info)
        except TypeError:  # orjson refuses to write JSON nested deeper than 255 levels (it reads up to 1024)
            detail = "Event properties are nested too deeply (more than 250 levels)."
            state.diagnostics.count(project_id, diag.REJECTED_INVALID)
            state.diagnostics.error(project_id, "invalid_event", detail, {"attr": f"batch__{index}__properties"})
            if not v1:
                raise errors.validation_error(detail, f"batch__{index}__properties", code="invalid_event") from None
            accepted.results[uuid_text] = {"result": "drop", "details": detail}
            continue
        if len(payload) > settings.max_event_bytes:
            state.diagnostics.count(project_id, diag.TOO_LARGE)
            state.diagnostics.error(
                project_id, "event_too_large", f"Event {uuid_text} is {len(payload)} bytes", {"uuid": uuid_text}
            )
            raise errors.payload_too_large(
                f"Event {index} is larger than the {settings.max_event_bytes}-byte limit per event."
            )
        accepted.items.append((project_id, payload))
        accepted.results[uuid_text] = {"result": "ok"}
    return project_id, accepted


async def _enqueue(request: Request, project_id: int, accepted: _Accepted) -> None:
    state = _state(request)
    if accepted.items:
        try:
            await state.queue.put_async(accepted.items)
        except Exception as exc:
            state.diagnostics.error(project_id, "queue_unavailable", f"{type(exc).__name__}: {exc}")
            raise errors.APIError(
                503, type="server_error", code="queue_unavailable", detail="Ingestion queue unavailable; retry later."
            ) from None
        state.diagnostics.count(project_id, diag.RECEIVED, len(accepted.items))
    state.diagnostics.count(project_id, diag.NON_EXCEPTION, accepted.non_exception)


async def _guard(request: Request, call: Any) -> Response:
    """Every capture answer, errors included, carries CORS headers so browsers can read it. An unexpected failure
    (database unreachable during a token lookup…) is a 503, which every SDK retries, rather than a bare 500."""
    try:
        try:
            return await call()
        except errors.APIError:
            raise
        except Exception:
            log.exception("capture failed on %s", request.url.path)
            raise errors.APIError(
                503, type="server_error", code="unavailable", detail="Ingestion temporarily unavailable; retry later."
            ) from None
    except errors.APIError as exc:
        exc.headers.update(cors_headers(request))
        if exc.status_code == 413 and not exc.detail.startswith("Event "):
            state = _state(request)
            state.diagnostics.error(None, "too_large", exc.detail, {"path": request.url.path})
        return errors.error_response(exc)


async def capture(request: Request) -> Response:
    """posthog-python V0 (`/batch/`), posthog-js (`/e/`, `/i/v0/e/`), legacy `/capture/`, `/track/`."""

    async def run() -> Response:
        project_id, accepted = await _receive(request, v1=False)
        await _enqueue(request, project_id, accepted)
        return ORJSONResponse({"status": 1}, headers=cors_headers(request))

    return await _guard(request, run)


async def capture_v1(request: Request) -> Response:
    """posthog-python `capture_mode="v1"`: Bearer token, per-event results the SDK requires in a 2xx."""

    async def run() -> Response:
        project_id, accepted = await _receive(request, v1=True)
        await _enqueue(request, project_id, accepted)
        return ORJSONResponse({"results": accepted.results}, headers=cors_headers(request))

    return await _guard(request, run)


async def preflight(request: Request) -> Response:
    return preflight_response(request, "POST, OPTIONS")


for _path in V0_PATHS:
    router.add_api_route(
        _path,
        capture,
        methods=["POST"],
        summary=f"Capture events ({_path})",
        include_in_schema=_path == "/batch/",
        response_model=None,
    )
    router.add_api_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False, response_model=None)
router.add_api_route(V1_PATH, capture_v1, methods=["POST"], summary="Capture events (V1)", response_model=None)
router.add_api_route(V1_PATH, preflight, methods=["OPTIONS"], include_in_schema=False, response_model=None)
