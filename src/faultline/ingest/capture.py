"""PostHog capture endpoints: what unmodified posthog-python / posthog-js (and PostHog's documented manual
capture) POST to, answered the way PostHog answers.

The request path does only: size cap while reading → decode → JSON value count → JSON → token → light checks →
durable enqueue → answer. The SDK hears 200 only after the queue transaction committed. Non-`$exception` events
are acknowledged and counted but not stored: this is an error tracker, and refusing them would make the SDK retry
forever.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from faultline.http import errors
from faultline.http.cors import cors_headers, preflight_response
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.ids import parse_ascii_int
from faultline.ingest import diagnostics as diag
from faultline.ingest.decode import DecodedTooLarge, decode_body
from faultline.ingest.posthog_body import (
    EXCEPTION_EVENT,
    CaptureBody,
    EventRejected,
    check_event,
    event_uuid,
    parse_body,
    queue_payload,
)
from faultline.ingest.queue import QueueFull
from faultline.ingest.state import IngestState

log = logging.getLogger(__name__)
T = TypeVar("T")
router = Router(tags=["capture"], slash_twins=True)  # SDKs spell paths both ways, thousands of times a second

V0_PATHS = ("/batch/", "/e/", "/i/v0/e/", "/capture/", "/track/")
V1_PATH = "/i/v1/analytics/events"
# Seconds a client is asked to wait when the queue is full: long enough for a worker to digest a few batches, short
# enough that a browser tab still delivers its retry.
QUEUE_FULL_RETRY_AFTER = 10
BUSY_RETRY_AFTER = 1  # bodies in flight are answered within seconds; the budget frees up as fast
_INLINE_BYTES = 256 * 1024  # bodies that decode to at most this are handled on the event loop (~1 ms to parse)

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


def _server_busy() -> errors.APIError:
    return errors.APIError(
        503,
        type="server_error",
        code="server_busy",
        detail="Too many capture bodies are being received at once (FAULTLINE_MAX_INFLIGHT_BODY_BYTES); retry shortly.",
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


def _hold(request: Request, amount: int) -> None:
    """Take `amount` more bytes of the process's body budget for this request (given back by `_guard` when the
    request is answered), or refuse the request as busy."""
    if amount <= 0:
        return
    if not _state(request).body_budget.try_take(amount):
        raise _server_busy()
    request.state.body_bytes_held = getattr(request.state, "body_bytes_held", 0) + amount


def _release(request: Request) -> None:
    held = getattr(request.state, "body_bytes_held", 0)
    if held:
        request.state.body_bytes_held = 0
        _state(request).body_budget.give_back(held)


async def _read_body(request: Request, limit: int) -> bytearray:
    """The body as the bytearray it was read into: a `bytes` copy would hold it twice at once (up to 2 × 20 MiB
    per request in flight). Its bytes count against the process's in-flight budget as they arrive (a declared
    length at once); `_guard` gives them back."""
    declared = parse_ascii_int(request.headers.get("content-length"), max_digits=20)
    if declared is not None and declared > limit:
        raise errors.payload_too_large(f"Request body is larger than {limit} bytes.")
    held = declared or 0
    _hold(request, held)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise errors.payload_too_large(f"Request body is larger than {limit} bytes.")
        if len(chunks) > held:  # chunked, or more than declared (the server cuts that, but never trust it)
            _hold(request, len(chunks) - held)
            held = len(chunks)
    return chunks


def decode_inline(decode: Callable[..., bytes | bytearray], size: int, cap: int) -> bytes | bytearray | None:
    """The body decoded on the event loop when it is small and stays small (under 256 KiB, or the cap if lower);
    None when it must be decoded in a worker thread instead. A body already past the budget goes straight to a
    thread (percent-decoding a big form is Python-speed). Shared by the PostHog and Sentry capture paths."""
    limit = min(_INLINE_BYTES, cap)
    if size > limit:
        return None
    try:
        return decode(max_decompressed_bytes=limit)
    except DecodedTooLarge:
        if limit == cap:
            raise
        return None


class _Accepted:
    """What one capture request produced: queue items and per-event results (for the V1 answer)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.non_exception = 0


async def _ingest(request: Request, *, v1: bool) -> _Accepted:
    """Read, decode, parse, check, enqueue. A body is first decoded on the event loop with a small budget; one
    that inflates past it (or is larger to begin with) is redone in a worker thread, holding one of
    `FAULTLINE_MAX_CONCURRENT_DECODES` slots from the decode until its parsed events are gone, so the memory that
    large bodies take at any moment is bounded by configuration, whatever arrives."""
    state = _state(request)
    settings = state.settings
    body = await _read_body(request, settings.max_body_bytes)
    if not body:
        raise errors.parse_error("Empty request body.")
    decode = functools.partial(
        decode_body,
        body,
        content_encoding=request.headers.get("content-encoding"),
        content_type=request.headers.get("content-type"),
        compression=request.query_params.get("compression"),
    )
    data = decode_inline(decode, len(body), settings.max_decompressed_bytes)
    if data is not None:
        parsed = parse_body(data, max_values=settings.max_json_values)
        project_id = await _authenticate(request, parsed, v1=v1)
        accepted = _accept(request, project_id, parsed, v1=v1)
        await _enqueue(request, project_id, accepted)
        return accepted

    async with state.decode_slots:
        try:
            data = await _offload(functools.partial(decode, max_decompressed_bytes=settings.max_decompressed_bytes))
            parsed = await _offload(functools.partial(parse_body, data, max_values=settings.max_json_values))
            del data
            project_id = await _authenticate(request, parsed, v1=v1)
            accepted = await _offload(functools.partial(_accept, request, project_id, parsed, v1=v1))
            del parsed
            await _enqueue(request, project_id, accepted)
            return accepted
        finally:
            state.memory.note_large()


def _outcome(func: Callable[[], T]) -> T | errors.APIError:
    try:
        return func()
    except errors.APIError as exc:
        return exc.with_traceback(None)


async def _offload(func: Callable[[], T]) -> T:
    """`func()` in a worker thread. A refusal comes back as a value, without its traceback: raised through anyio's
    future, it would sit in a reference cycle (exception → traceback → frame → future → exception) holding the
    decode frames, and their megabytes, until the garbage collector happened to run."""
    outcome = await anyio.to_thread.run_sync(_outcome, func)
    if isinstance(outcome, errors.APIError):
        try:
            raise outcome
        finally:
            del outcome  # this frame is in the traceback: a local naming the exception would be a cycle again
    return outcome


async def _authenticate(request: Request, parsed: CaptureBody, *, v1: bool) -> int:
    state = _state(request)
    token = (_bearer(request) or parsed.token) if v1 else (parsed.token or _bearer(request))
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
    return project_id


def _accept(request: Request, project_id: int, parsed: CaptureBody, *, v1: bool) -> _Accepted:
    """Check every event and serialise the queue documents (thread-safe: runs in a worker for large bodies)."""
    state = _state(request)
    settings = state.settings
    sent_at = parsed.sent_at
    if v1 and sent_at is None:
        sent_at = request.headers.get("posthog-request-timestamp")
    sdk_info = request.headers.get("posthog-sdk-info") if v1 else None
    received_at = dt.datetime.now(dt.UTC)
    accepted = _Accepted()
    for index, event in enumerate(parsed.events):
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
    return accepted


async def _check_project_limit(request: Request, project_id: int, accepted: _Accepted) -> None:
    """429 + `Retry-After` when the project is over its rate limit (the whole request: V0 has no partial answer)."""
    state = _state(request)
    limiter = state.project_limits
    n = len(accepted.items)
    if not n:
        return
    if limiter.shared or not limiter.cached(project_id):
        wait = await anyio.to_thread.run_sync(limiter.take, project_id, n)
    else:
        wait = limiter.take(project_id, n)
    if wait is None:
        return
    state.diagnostics.count(project_id, diag.RATE_LIMITED, n)
    state.diagnostics.error(project_id, "rate_limited", f"{n} events refused: project rate limit (retry in {wait} s)")
    raise errors.APIError(
        429,
        type="throttled_error",
        code="throttled",
        detail=f"Request was throttled. Expected available in {wait} seconds.",
        headers={"Retry-After": str(wait)},
    )


async def _enqueue(request: Request, project_id: int, accepted: _Accepted) -> None:
    state = _state(request)
    await _check_project_limit(request, project_id, accepted)
    if accepted.items:
        try:
            await state.queue.put_async(accepted.items)
        except QueueFull as exc:
            state.diagnostics.count(project_id, diag.QUEUE_FULL, len(accepted.items))
            state.diagnostics.error(project_id, "queue_full", f"{len(accepted.items)} events refused: {exc}")
            raise errors.APIError(
                503,
                type="server_error",
                code="queue_full",
                detail="Ingestion queue is full (the digest worker is behind or stopped); retry later.",
                headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER)},
            ) from None
        except Exception as exc:
            failure = state.write_health.failed(exc)
            state.diagnostics.error(project_id, failure.code, f"{failure.reason} ({failure.error})")
            raise errors.APIError(503, type="server_error", code=failure.code, detail=failure.client_detail) from None
        state.write_health.succeeded()
        state.diagnostics.count(project_id, diag.RECEIVED, len(accepted.items))
    state.diagnostics.count(project_id, diag.NON_EXCEPTION, accepted.non_exception)


async def _guard(request: Request, call: Any) -> Response:
    """Every capture answer, errors included, carries CORS headers so browsers can read it. An unexpected failure
    (database unreachable during a token lookup…) is a 503, which every SDK retries, rather than a bare 500."""
    try:
        try:
            return await call()
        except (errors.APIError, ClientDisconnect):
            raise  # a disconnect is logged as one (faultline.http.disconnects), not as a failure
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
    finally:
        _release(request)


async def capture(request: Request) -> Response:
    """posthog-python V0 (`/batch/`), posthog-js (`/e/`, `/i/v0/e/`), legacy `/capture/`, `/track/`."""

    async def run() -> Response:
        await _ingest(request, v1=False)
        return ORJSONResponse({"status": 1}, headers=cors_headers(request))

    return await _guard(request, run)


async def capture_v1(request: Request) -> Response:
    """posthog-python `capture_mode="v1"`: Bearer token, per-event results the SDK requires in a 2xx."""

    async def run() -> Response:
        accepted = await _ingest(request, v1=True)
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
