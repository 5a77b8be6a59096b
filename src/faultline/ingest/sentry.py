"""Sentry ingestion endpoints: `POST /api/<project_id>/envelope/` (every current SDK) and `/store/` (one bare event,
older SDKs and tools), answered the way Sentry answers: `{"id": "<event id>"}` once the events are queued, 4xx with
`X-Sentry-Error` saying what to fix, CORS for browsers.

The request path does what the PostHog capture path does (`faultline.ingest.capture`: its bounded body read,
decoding, thread offload for large bodies and durable enqueue) plus: split the envelope into items
(`faultline.ingest.envelope`), authenticate the DSN key (`faultline.ingest.sentry_auth`), parse only `event` and
`client_report` payloads, and count every other item type in ingestion diagnostics. Event payloads are queued as the
SDK sent them, wrapped in a small document; the digest maps them to the typed event (`faultline.pipeline.sentry`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from fastapi import Request
from starlette.responses import Response

from faultline.http import errors
from faultline.http.cors import cors_headers, preflight_response
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.ids import uuid7
from faultline.ingest import diagnostics as diag
from faultline.ingest import envelope as envelopes
from faultline.ingest.capture import _Accepted, _enqueue, _guard, _offload, _read_body, _state, decode_inline
from faultline.ingest.decode import decode_body
from faultline.ingest.posthog_body import parse_json
from faultline.ingest.sentry_auth import AuthProblem, Credentials, check_key, choose_key, parse_auth_header, parse_dsn
from faultline.ingest.state import IngestState

router = Router(tags=["sentry"], slash_twins=True)  # SDKs spell paths both ways, thousands of times a second

ALLOW_HEADERS = "X-Sentry-Auth, Content-Type, Content-Encoding, sentry-trace, baggage, Authorization"
EXPOSE_HEADERS = "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After"

# Item types that are accepted and counted, never processed (this is an error tracker); anything else is counted
# as `other` so an SDK newer than this server is never answered with an error.
COUNTED_TYPES = frozenset(
    {
        "event",
        "transaction",
        "span",
        "session",
        "sessions",
        "attachment",
        "check_in",
        "log",
        "otel_log",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "replay_video",
        "feedback",
        "user_report",
        "statsd",
        "metric_buckets",
        "trace_metric",
        "client_report",
        "raw_security",
        "security",
    }
)
CLIENT_REPORT_REASONS = frozenset(
    {
        "queue_overflow",
        "cache_overflow",
        "ratelimit_backoff",
        "network_error",
        "sample_rate",
        "before_send",
        "event_processor",
        "send_error",
        "internal_sdk_error",
        "insufficient_data",
        "backpressure",
        "buffer_overflow",
        "ignored",
        "invalid",
        "no_parent_span",
        "callback_error",
    }
)
CLIENT_REPORT_CATEGORIES = frozenset(
    {
        "default",
        "error",
        "transaction",
        "monitor",
        "span",
        "log_item",
        "log_byte",
        "security",
        "attachment",
        "session",
        "profile",
        "profile_chunk",
        "replay",
        "feedback",
        "trace_metric",
        "trace_metric_byte",
        "internal",
        "metric_bucket",
        "user_report_v2",
    }
)
MAX_CLIENT_REPORT_BYTES = 64 * 1024  # a report lists a few (reason, category) pairs; a bigger one is only counted
MAX_CLIENT_REPORT_ENTRIES = 100
MAX_QUANTITY = 1_000_000_000
ITEM_COUNTER = diag.SENTRY_ITEM_PREFIX
CLIENT_REPORT_COUNTER = diag.CLIENT_REPORT_PREFIX


@dataclass
class _Envelope:
    """What one Sentry request produced: queue items, counters to add once queued, and the event id to answer."""

    accepted: _Accepted = field(default_factory=_Accepted)
    counts: Counter[str] = field(default_factory=Counter)
    event_id: str | None = None
    header_dsn: Any = None
    warnings: list[str] = field(default_factory=list)


def _event_id(*candidates: Any) -> str:
    for value in candidates:
        if isinstance(value, str) and len(value) <= 64:
            try:
                return uuid.UUID(value).hex
            except ValueError:
                continue
    return uuid7().hex


def _queue_doc(payload: bytes, event_id: str, received_at: dt.datetime, sent_at: Any) -> bytes:
    """The queued document around the event exactly as sent: concatenated, never re-serialised (the payload was
    parsed once to check it, and is valid JSON)."""
    meta: dict[str, Any] = {"event_id": str(uuid.UUID(event_id)), "received_at": received_at.isoformat()}
    if isinstance(sent_at, str) and len(sent_at) <= 64:
        meta["sent_at"] = sent_at
    return b'{"sentry":' + payload + b"," + orjson.dumps(meta)[1:]


def _accept_event(state: IngestState, project_id: int | None, payload: bytes, out: _Envelope, env_headers: Any) -> None:
    settings = state.settings
    if len(payload) > settings.max_event_bytes:
        raise errors.payload_too_large(
            f"Event is {len(payload)} bytes, more than the {settings.max_event_bytes}-byte limit per event "
            "(FAULTLINE_MAX_EVENT_BYTES)."
        )
    event = parse_json(payload, max_values=settings.max_json_values)
    if not isinstance(event, dict):
        raise errors.parse_error("A Sentry event must be a JSON object.")
    headers = env_headers if isinstance(env_headers, dict) else {}
    event_id = _event_id(event.get("event_id"), headers.get("event_id"))
    out.event_id = out.event_id or event_id
    received_at = dt.datetime.now(dt.UTC)
    out.accepted.items.append((project_id or 0, _queue_doc(payload, event_id, received_at, headers.get("sent_at"))))


def _count_client_report(payload: memoryview, out: _Envelope) -> None:
    """Add what the SDK says it dropped, by reason and category; unknown names are counted as `other` so a client
    cannot create counters at will."""
    if len(payload) > MAX_CLIENT_REPORT_BYTES:
        return
    try:
        report = orjson.loads(bytes(payload))
    except orjson.JSONDecodeError:
        raise errors.parse_error("A client_report item is not valid JSON.") from None
    discarded = report.get("discarded_events") if isinstance(report, dict) else None
    if not isinstance(discarded, list):
        return
    for entry in discarded[:MAX_CLIENT_REPORT_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        reason, category, quantity = entry.get("reason"), entry.get("category"), entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            continue
        reason = reason if reason in CLIENT_REPORT_REASONS else "other"
        category = category if category in CLIENT_REPORT_CATEGORIES else "other"
        out.counts[f"{CLIENT_REPORT_COUNTER}{reason}:{category}"] += min(quantity, MAX_QUANTITY)


def _split(state: IngestState, data: bytes | bytearray) -> _Envelope:
    settings = state.settings
    try:
        parsed = envelopes.parse(
            data, max_items=settings.sentry_max_items, max_header_bytes=settings.sentry_max_header_bytes
        )
    except envelopes.EnvelopeError as exc:
        if exc.status == 413:
            raise errors.payload_too_large(exc.detail) from None
        raise errors.parse_error(exc.detail) from None
    out = _Envelope(header_dsn=parsed.headers.get("dsn"))
    for index, item in enumerate(parsed.items):
        kind = item.type if item.type in COUNTED_TYPES else "other"
        if item.length_mismatch:
            out.warnings.append(
                f"Item {index} ({kind}) declares `length` {item.headers.get('length')} but {len(item.payload)} "
                "bytes follow; it was read up to the end of its line."
            )
        if kind == "event":
            _accept_event(state, None, bytes(item.payload), out, parsed.headers)
        elif kind == "client_report":
            _count_client_report(item.payload, out)
        out.counts[ITEM_COUNTER + kind] += 1
    if out.event_id is None:
        out.event_id = _event_id(parsed.headers.get("event_id"))
    return out


def _store_body(state: IngestState, data: bytes | bytearray) -> _Envelope:
    out = _Envelope()
    _accept_event(state, None, bytes(data), out, None)
    out.counts[ITEM_COUNTER + "event"] += 1
    return out


async def _authenticate(request: Request, out: _Envelope) -> int:
    state = _state(request)
    path_project_id = int(request.path_params["project_id"])
    header_key = parse_auth_header(request.headers.get("x-sentry-auth"))
    if header_key is None:
        authorization = request.headers.get("authorization") or ""
        header_key = parse_auth_header(authorization) if authorization[:7].lower() == "sentry " else None
    dsn_key, dsn_project = parse_dsn(out.header_dsn)
    creds = Credentials(
        header=header_key, query=request.query_params.get("sentry_key") or None, dsn=dsn_key, dsn_project=dsn_project
    )
    try:
        key = choose_key(creds, path_project_id)
        cache = state.dsn_keys
        found = cache.lookup(key) if cache.cached(key) else await anyio.to_thread.run_sync(cache.lookup, key)
        return check_key(found, key, path_project_id)
    except AuthProblem as exc:
        scope = path_project_id if exc.status == 403 else None
        state.diagnostics.error(scope, exc.code, exc.detail, {"path": request.url.path})
        raise errors.APIError(exc.status, type="authentication_error", code=exc.code, detail=exc.detail) from None


async def _ingest(request: Request, split: Any) -> _Envelope:
    """Read, decode, split, authenticate, enqueue: small bodies on the event loop, large ones in a worker thread
    holding one of the decode slots (as capture does, so large Sentry bodies share the same memory bound)."""
    state = _state(request)
    settings = state.settings
    body = await _read_body(request, settings.max_body_bytes)
    if not body:
        raise errors.parse_error("Empty request body.")
    decode = functools.partial(
        decode_body,
        body,
        content_encoding=request.headers.get("content-encoding"),
        content_type=None,
        compression=None,
    )
    data = decode_inline(decode, len(body), settings.max_decompressed_bytes)
    if data is not None:
        out = split(state, data)
        return await _finish(request, out)
    async with state.decode_slots:
        try:
            data = await _offload(functools.partial(decode, max_decompressed_bytes=settings.max_decompressed_bytes))
            out = await _offload(functools.partial(split, state, data))
            del data
            return await _finish(request, out)
        finally:
            state.memory.note_large()


async def _finish(request: Request, out: _Envelope) -> _Envelope:
    state = _state(request)
    project_id = await _authenticate(request, out)
    out.accepted.items = [(project_id, doc) for _pid, doc in out.accepted.items]
    await _enqueue(request, project_id, out.accepted)
    for name, value in out.counts.items():
        state.diagnostics.count(project_id, name, value)
    for warning in out.warnings[:5]:
        state.diagnostics.error(project_id, "envelope_length_mismatch", warning, {"path": request.url.path})
    return out


def _sentry_headers(request: Request) -> dict[str, str]:
    headers = cors_headers(request)
    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return headers


async def _answer(request: Request, split: Any) -> Response:
    async def run() -> Response:
        out = await _ingest(request, split)
        return ORJSONResponse({"id": out.event_id}, headers=_sentry_headers(request))

    response = await _guard(request, run)
    if response.status_code >= 400:
        detail = ""
        try:
            detail = str(orjson.loads(bytes(response.body)).get("detail") or "")
        except (orjson.JSONDecodeError, AttributeError):
            pass
        # Sentry SDKs log this header; keep it one line of printable ASCII.
        response.headers["X-Sentry-Error"] = detail.encode("ascii", "replace").decode()[:500] or "error"
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        retry_after = response.headers.get("retry-after")
        if response.status_code == 429 and retry_after:
            # Sentry SDKs back off per category from this header (`seconds:categories:scope`; no categories = all),
            # and fall back to Retry-After only without it: the project limit holds every kind of item back.
            response.headers["X-Sentry-Rate-Limits"] = f"{retry_after}::project"
    return response


async def envelope_endpoint(request: Request) -> Response:
    """A Sentry envelope: events are queued, client reports and every other item type counted."""
    return await _answer(request, _split)


async def store_endpoint(request: Request) -> Response:
    """One Sentry event as a bare JSON body (the legacy store endpoint)."""
    return await _answer(request, _store_body)


async def preflight(request: Request) -> Response:
    response = preflight_response(request, "POST, OPTIONS")
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


for _name, _endpoint in (("envelope", envelope_endpoint), ("store", store_endpoint)):
    _path = f"/api/{{project_id:int}}/{_name}/"
    # Not in the OpenAPI schema: SDK transport endpoints whose bodies are envelopes, not JSON documents (their
    # hostile inputs are tested in tests/e2e/test_sentry_hostile_live.py).
    router.add_api_route(_path, _endpoint, methods=["POST"], include_in_schema=False, response_model=None)
    router.add_api_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False, response_model=None)
