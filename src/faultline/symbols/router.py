"""`/api/environments/{project_id}/error_tracking/symbol_sets/…` (and the `/api/projects/…` twin the CLI calls).

Thin HTTP layer over `service.py`. Upload bodies are streamed (never buffered whole) and the blocking work — storage
I/O, hashing, database writes — runs in the thread pool so a 100 MiB upload does not stall the event loop.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.pagination import Page, PageParams, page_params_factory, paginate_query
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.symbols import repairjobs, service
from faultline.symbols.multipart import MultipartError, Upload, boundary_of, read_raw, read_upload
from faultline.symbols.runtime import SymbolsRuntime, runtime_for
from faultline.symbols.schemas import (
    MAX_SETS_PER_REQUEST,
    BulkCheckOut,
    BulkDeleteIn,
    BulkFinishIn,
    BulkStartOut,
    BulkUploadIn,
    DeletedOut,
    DownloadOut,
    FinishUploadIn,
    OkOut,
    RepairJobOut,
    StartUploadOut,
    SuccessOut,
    SymbolSetOut,
)
from faultline.symbols.storage import MAX_SYMBOL_SET_BYTES

router = Router(tags=["symbol sets"])

BASE = "/error_tracking/symbol_sets"
symbol_set_page = page_params_factory(max_limit=100)
READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")


def symbols_runtime(request: Request) -> SymbolsRuntime:
    return runtime_for(request.app.state)


def _uploads(body: BulkUploadIn) -> list[service.UploadRequest]:
    uploads = [
        service.UploadRequest(
            chunk_id=item.chunk_id,
            release_id=item.release_id or None,
            content_hash=item.content_hash or None,
            content_length=item.content_length,
        )
        for item in body.symbol_sets
    ]
    uploads += [
        service.UploadRequest(chunk_id=chunk, release_id=body.release_id or None, content_hash=None)
        for chunk in body.chunk_ids or []
    ]
    return uploads


def _conflict_handling(body: BulkUploadIn) -> None:
    if body.force and body.skip_on_conflict:
        raise errors.validation_error(
            "Use either force or skip_on_conflict, not both.", None, code="invalid_conflict_handling"
        )


# ---------------------------------------------------------------------------------------------------------------------
# Collection routes (registered before `{symbol_set_id}` so their names never parse as ids)


@router.get(f"{BASE}/", response_model=Page[SymbolSetOut], summary="List symbol sets")
def list_symbol_sets(
    ref: str | None = Query(None, description="Exact symbol set reference (chunk id or script URL)."),
    search: str | None = Query(
        None, description="Case-insensitive substring of the ref, release version, release project or commit id."
    ),
    status: Literal["all", "valid", "invalid"] = Query(
        "all", description="`valid`: has an uploaded file; `invalid`: resolution failed (no file)."
    ),
    order_by: Literal["created_at", "-created_at", "ref", "-ref", "last_used", "-last_used"] | None = Query(None),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(symbol_set_page),
) -> dict[str, Any]:
    stmt = service.list_query(ctx.project_id, ref=ref, search=search, status=status, order_by=order_by)
    return paginate_query(session, page, stmt, lambda row: service.serialize(row[0], row[1]), scalars=False)


@router.post(f"{BASE}/bulk_check_upload/", response_model=BulkCheckOut, summary="Which symbol sets need uploading")
def bulk_check_upload(
    body: BulkUploadIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    _conflict_handling(body)
    chunk_ids = service.bulk_check(
        session, ctx.project_id, _uploads(body), force=body.force, skip_on_conflict=body.skip_on_conflict
    )
    return {"chunk_ids_to_upload": chunk_ids}


@router.post(
    f"{BASE}/bulk_start_upload/", response_model=BulkStartOut, status_code=201, summary="Start uploading symbol sets"
)
def bulk_start_upload(
    body: BulkUploadIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> dict[str, Any]:
    _conflict_handling(body)
    id_map = service.bulk_start(
        session, runtime, ctx.project_id, _uploads(body), force=body.force, skip_on_conflict=body.skip_on_conflict
    )
    return {"id_map": id_map}


@router.post(
    f"{BASE}/bulk_finish_upload/", response_model=SuccessOut, status_code=201, summary="Confirm uploaded symbol sets"
)
def bulk_finish_upload(
    body: BulkFinishIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> Any:
    if body.content_hashes is None:
        raise errors.validation_error("content_hashes are required", "content_hashes", code="required")
    if not body.content_hashes:
        return {"success": True}
    problem = service.bulk_finish(session, runtime, ctx.project_id, body.content_hashes)
    if problem is not None:
        # Returned, not raised: the write session commits, so sets deleted for being too large stay deleted.
        return errors.domain_response(problem)
    return {"success": True}


@router.post(f"{BASE}/bulk_delete/", response_model=DeletedOut, summary="Delete several symbol sets")
def bulk_delete(
    body: BulkDeleteIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> dict[str, Any]:
    if not body.ids:
        raise errors.validation_error("ids is required", "ids", code="required")
    if not isinstance(body.ids, list):
        raise errors.validation_error("ids must be a list", "ids", code="not_a_list")
    if len(body.ids) > MAX_SETS_PER_REQUEST:
        raise errors.validation_error(
            f"Ensure this field has no more than {MAX_SETS_PER_REQUEST} elements.", "ids", code="max_length"
        )
    parsed = [parse_uuid(item) for item in body.ids]
    if any(item is None for item in parsed):
        raise errors.validation_error("Must be a valid UUID.", "ids", code="invalid")
    return {"deleted": service.bulk_delete(session, runtime, ctx.project_id, [p for p in parsed if p is not None])}


@router.get(
    f"{BASE}/repair_jobs/",
    response_model=Page[RepairJobOut],
    summary="Re-symbolication jobs queued by uploads, with their progress",
)
def list_repair_jobs(
    symbol_set: str | None = Query(None, description="Only jobs for this symbol set id."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(symbol_set_page),
) -> dict[str, Any]:
    stmt = repairjobs.jobs_query(ctx.project_id, symbol_set)
    return paginate_query(session, page, stmt, repairjobs.serialize_job)


async def _read_file(request: Request) -> Upload:
    try:
        if boundary_of(request.headers.get("content-type", "")):
            return await read_upload(request, max_file_bytes=MAX_SYMBOL_SET_BYTES)
        return await read_raw(request, max_bytes=MAX_SYMBOL_SET_BYTES)
    except MultipartError as exc:
        if exc.code == "file_too_large":
            raise service.upload_error(
                "file_too_large", "Combined source map and symbol set must be less than 100MB"
            ) from None
        raise errors.APIError(exc.status, type="invalid_request", code=exc.code, detail=exc.message) from None


@router.post(f"{BASE}/", response_model=OkOut, status_code=201, summary="Upload one symbol set (deprecated flow)")
async def create_symbol_set(
    request: Request,
    chunk_id: str | None = Query(None, description="Chunk id the file belongs to."),
    release_id: str | None = Query(None),
    multipart: str | None = Query(None, description="Ignored: multipart bodies are detected from Content-Type."),
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> dict[str, Any]:
    chunk = service.check_chunk_id(chunk_id)
    upload = await _read_file(request)
    try:
        assert upload.file is not None
        if upload.size == 0:
            raise errors.validation_error("The submitted file is empty.", "file", code="empty")
        await run_in_threadpool(
            service.create_from_file, session, runtime, ctx.project_id, chunk, release_id or None, upload.file
        )
    finally:
        upload.close()
    return {"ok": True}


@router.post(
    f"{BASE}/start_upload/", response_model=StartUploadOut, status_code=201, summary="Start one upload (deprecated)"
)
def start_upload(
    chunk_id: str | None = Query(None),
    release_id: str | None = Query(None),
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> dict[str, Any]:
    chunk = service.check_chunk_id(chunk_id)
    return service.start_upload(session, runtime, ctx.project_id, chunk, release_id or None)


# ---------------------------------------------------------------------------------------------------------------------
# One symbol set


@router.get(f"{BASE}/{{symbol_set_id}}/", response_model=SymbolSetOut, summary="Retrieve a symbol set")
def retrieve_symbol_set(
    symbol_set_id: str,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    return service.serialize(*service.get(session, ctx.project_id, symbol_set_id))


def _unchanged(
    symbol_set_id: str,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    """Every field is read-only, so updates change nothing (PostHog keeps the routes for old clients)."""
    return service.serialize(*service.get(session, ctx.project_id, symbol_set_id))


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        f"{BASE}/{{symbol_set_id}}/",
        _unchanged,
        methods=[_method],
        response_model=SymbolSetOut,
        include_in_schema=False,
    )


@router.delete(f"{BASE}/{{symbol_set_id}}/", status_code=204, summary="Delete a symbol set")
def delete_symbol_set(
    symbol_set_id: str,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> Response:
    service.delete(session, runtime, ctx.project_id, symbol_set_id)
    return Response(status_code=204)


@router.get(
    f"{BASE}/{{symbol_set_id}}/download/", response_model=DownloadOut, summary="Signed URL to download the file"
)
def download_symbol_set(
    symbol_set_id: str,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> dict[str, Any]:
    return {"url": service.download_url(session, runtime, ctx.project_id, symbol_set_id)}


@router.put(
    f"{BASE}/{{symbol_set_id}}/finish_upload/", response_model=SuccessOut, summary="Confirm one upload (deprecated)"
)
def finish_upload(
    symbol_set_id: str,
    body: FinishUploadIn,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    runtime: SymbolsRuntime = Depends(symbols_runtime),
) -> Any:
    problem = service.finish_upload(session, runtime, ctx.project_id, symbol_set_id, body.content_hash)
    if problem is not None:
        return errors.domain_response(problem)
    return ORJSONResponse({"success": True})
