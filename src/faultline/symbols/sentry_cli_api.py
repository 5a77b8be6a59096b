"""The part of Sentry's management API that `sentry-cli sourcemaps upload` (3.x) calls, over the symbols domain.

* `GET  /api/0/organizations/{org}/chunk-upload/` — how to upload: chunk size, chunks per request, request and file
  size limits, `hashAlgorithm: sha1`, `compression: ["gzip"]`, and `accept` (only `artifact_bundles` — the one
  upload type sentry-cli 3.x still has). The upload URL is relative, so it works behind any host name.
* `POST /api/0/organizations/{org}/chunk-upload/` — multipart parts `file` (or `file_gzip`, gzip) whose filename is
  the chunk's SHA-1. The body is capped at chunks-per-request × chunk size before it is parsed.
* `POST /api/0/organizations/{org}/artifactbundle/assemble/` — `{checksum, chunks, projects, version?, dist?}` →
  `{state, missingChunks, detail}`: `not_found` + the missing chunks until all are there, then `ok` (symbol sets
  stored) at once. A bundle that cannot be used answers **400** in PostHog's error shape (plus `state: "error"`),
  which sentry-cli reports as a failed upload with our message.

Auth is a personal API key as sentry-cli's auth token (`Authorization: Bearer phx_…`); uploads need
`error_tracking:write`, as posthog-cli's symbol-set uploads do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from faultline.accounts import slugs
from faultline.accounts.access import Principal, require_scope
from faultline.accounts.models import Organization, Project
from faultline.compression import DecodeError, decode_all
from faultline.http import errors
from faultline.http.deps import READ_SESSION, get_db
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.symbols import artifact_bundle, sentry_uploads
from faultline.symbols.runtime import SymbolsRuntime, runtime_for
from faultline.symbols.sentry_uploads import ChunkRefused

router = Router(tags=["sentry-cli"], include_in_schema=True)

BASE = "/api/0/organizations/{org}"
READ = require_scope("error_tracking:read")
WRITE = require_scope("error_tracking:write")
# Multipart framing around each chunk (boundary, headers with a 40-character filename): far less than this.
PART_OVERHEAD = 1024
MAX_WAIT_SECONDS = 60


def _runtime(request: Request) -> SymbolsRuntime:
    return runtime_for(request.app.state)


def request_bytes(runtime: SymbolsRuntime) -> int:
    """Chunk bytes one upload request may carry: sentry-cli batches chunks up to this (always at least one)."""
    settings = runtime.settings
    return max(settings.sentry_chunk_request_bytes, settings.sentry_chunk_bytes)


def body_limit(runtime: SymbolsRuntime) -> int:
    """The request body cap: the chunk bytes plus multipart framing and gzip's few bytes per chunk."""
    return request_bytes(runtime) * 1025 // 1024 + runtime.settings.sentry_chunks_per_request * PART_OVERHEAD


@router.get(f"{BASE}/chunk-upload/", summary="sentry-cli: how to upload chunks")
def chunk_upload_options(
    org: str,
    principal: Principal = Depends(READ),
    session: Session = READ_SESSION,
    runtime: SymbolsRuntime = Depends(_runtime),
) -> dict[str, Any]:
    slugs.resolve_organization(session, principal, org)
    settings = runtime.settings
    per_request = settings.sentry_chunks_per_request
    return {
        # The caller's own spelling (slug or id) that just resolved: a derived slug may be ambiguous.
        "url": f"/api/0/organizations/{quote(org, safe='')}/chunk-upload/",
        "chunkSize": settings.sentry_chunk_bytes,
        "chunksPerRequest": per_request,
        "maxRequestSize": request_bytes(runtime),
        "maxFileSize": settings.sentry_bundle_max_bytes,
        "maxWait": MAX_WAIT_SECONDS,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "concurrency": 2,
        "accept": ["artifact_bundles"],
    }


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.payload_too_large(f"A chunk upload request carries at most {limit} bytes.")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise errors.payload_too_large(f"A chunk upload request carries at most {limit} bytes.")
    return bytes(body)


def _parts(body: bytes, boundary: bytes, max_parts: int) -> list[tuple[str, str, bytes]]:
    """(field name, filename, bytes) of every part; at most `max_parts`."""
    parts: list[tuple[str, str, bytes]] = []
    headers: dict[bytes, bytes] = {}
    name = bytearray()
    value = bytearray()
    current = bytearray()
    problems: list[str] = []

    def on_part_begin() -> None:
        headers.clear()
        current.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current.extend(data[start:end])

    def on_part_end() -> None:
        if len(parts) >= max_parts:
            problems.append(f"At most {max_parts} chunks per request (FAULTLINE_SENTRY_CHUNKS_PER_REQUEST).")
            return
        _, params = parse_options_header(headers.get(b"content-disposition", b""))
        field = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename", b"").decode("utf-8", "replace")
        parts.append((field, filename, bytes(current)))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise errors.bad_request(f"Malformed multipart body: {exc}") from None
    if problems:
        raise errors.bad_request(problems[0], code="too_many_chunks")
    return parts


def _chunks(parts: list[tuple[str, str, bytes]], chunk_limit: int) -> list[tuple[str, bytes]]:
    chunks = []
    for field, filename, data in parts:
        if field not in ("file", "file_gzip"):
            continue
        checksum = sentry_uploads.check_checksum(filename, "file")
        if field == "file_gzip":
            try:
                data = bytes(decode_all("gzip", data, limit=chunk_limit))
            except DecodeError as exc:
                raise ChunkRefused(f"Chunk {checksum}: {exc}", "file_gzip", "chunk_too_large") from None
        chunks.append((checksum, data))
    if not chunks:
        raise errors.bad_request("No chunks: send multipart parts named `file` (or `file_gzip`).", code="required")
    return chunks


@router.post(f"{BASE}/chunk-upload/", summary="sentry-cli: upload chunks (multipart, named by SHA-1)")
async def upload_chunks(
    org: str,
    request: Request,
    principal: Principal = Depends(WRITE),
    runtime: SymbolsRuntime = Depends(_runtime),
) -> ORJSONResponse:
    settings = runtime.settings
    per_request = settings.sentry_chunks_per_request
    with get_db(request).read() as session:
        organization_id = slugs.resolve_organization(session, principal, org).id
    boundary = parse_options_header(request.headers.get("content-type", ""))[1].get(b"boundary")
    if not boundary:
        raise errors.unsupported_media_type("Expected a multipart/form-data body with a boundary.")
    body = await _read_body(request, body_limit(runtime))
    parts = _parts(body, boundary, per_request)
    del body
    chunks = _chunks(parts, settings.sentry_chunk_bytes)
    del parts
    total = sum(len(data) for _, data in chunks)
    if total > request_bytes(runtime):
        raise errors.payload_too_large(
            f"The chunks of one request take {total} bytes; at most {request_bytes(runtime)} "
            "(FAULTLINE_SENTRY_CHUNK_REQUEST_BYTES)."
        )

    def store() -> None:
        with get_db(request).write() as session:
            sentry_uploads.store_chunks(session, runtime, organization_id, chunks)

    await run_in_threadpool(store)
    return ORJSONResponse({})


class SentryAssembleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checksum: str
    chunks: list[str]
    projects: list[str] = []
    version: str | None = None
    dist: str | None = None


def _projects(session: Session, principal: Principal, organization: Organization, names: list[str]) -> list[Project]:
    if not names:
        raise errors.validation_error("Name at least one project (SENTRY_PROJECT / --project).", "projects")
    if len(names) > 100:
        raise errors.validation_error("At most 100 projects per bundle.", "projects")
    found: dict[int, Project] = {}
    for name in names:
        project = slugs.resolve_project(session, principal, organization, name)
        found[project.id] = project
    return list(found.values())


@router.post(f"{BASE}/artifactbundle/assemble/", summary="sentry-cli: assemble an artifact bundle into symbol sets")
def assemble_artifact_bundle(
    org: str,
    body: SentryAssembleIn,
    request: Request,
    principal: Principal = Depends(WRITE),
    runtime: SymbolsRuntime = Depends(_runtime),
) -> Any:
    """Three steps, so the write transaction (SQLite's single writer, which the digest worker needs too) is held
    only for the rows: look up (read), assemble + unzip + build the symbol-set files (no transaction), store."""
    settings = runtime.settings
    database = get_db(request)
    checksum = sentry_uploads.check_checksum(body.checksum, "checksum")
    most = settings.sentry_bundle_max_bytes // settings.sentry_chunk_bytes + 1
    if len(body.chunks) > most:
        raise errors.validation_error(
            f"A bundle has at most {most} chunks (FAULTLINE_SENTRY_BUNDLE_MAX_BYTES / FAULTLINE_SENTRY_CHUNK_BYTES).",
            "chunks",
            "file_too_large",
        )
    chunks = [sentry_uploads.check_checksum(c, f"chunks__{i}") for i, c in enumerate(body.chunks)]
    with database.read() as session:
        organization = slugs.resolve_organization(session, principal, org)
        organization_id = organization.id
        projects = [(p.id, p.name) for p in _projects(session, principal, organization, body.projects)]
        if not chunks:
            raise errors.validation_error("chunks must not be empty.", "chunks", "required")
        missing = sentry_uploads.missing_chunks(session, organization_id, chunks)
    if missing:
        return {"state": "not_found", "missingChunks": missing, "detail": None}
    try:
        data = sentry_uploads.assemble_bundle(runtime, organization_id, checksum, chunks)
        pairs = artifact_bundle.read_pairs(data, sentry_uploads.bundle_limits(runtime))
        del data
        if not pairs:
            raise ChunkRefused(
                "The artifact bundle has no source map with a debug id; run `sentry-cli sourcemaps inject` first.",
                "chunks",
                "no_debug_ids",
            )
        prepared = sentry_uploads.prepare_sets(pairs)
        del pairs
    except (artifact_bundle.BundleError, ChunkRefused) as exc:
        with database.write() as session:
            sentry_uploads.discard_chunks(session, runtime, organization_id, chunks)
        code = exc.code if isinstance(exc, artifact_bundle.BundleError) else (exc.code or "invalid_bundle")
        return _refused(str(exc), code)
    with database.write() as session:
        result = sentry_uploads.store_sets(session, runtime, projects, prepared, version=body.version or None)
        sentry_uploads.discard_chunks(session, runtime, organization_id, chunks)
    detail = f"{len(result.created)} created, {len(result.updated)} updated, {len(result.unchanged)} unchanged"
    return {"state": "ok", "missingChunks": [], "detail": detail}


def _refused(detail: str, code: str) -> ORJSONResponse:
    """400 in PostHog's shape, with sentry-cli's `state` beside it (nothing of the bundle is kept)."""
    error = errors.APIError(
        400,
        type="validation_error",
        code=code,
        detail=detail,
        attr="chunks",
        extra={"state": "error", "missingChunks": []},
    )
    return ORJSONResponse(error.body(), status_code=400)
