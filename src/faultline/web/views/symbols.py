"""Symbol sets (status, failure reason, last used, delete, upload) and releases.

Listing, deleting and storing go through `faultline.symbols.service` / `faultline.releases.service` — the functions
behind the REST endpoints and posthog-cli's uploads — so a set deleted here drops the same caches, and an upload
here queues the same re-symbolication of recent events.
"""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from faultline.errors import DomainError, NotFound
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_ascii_int, parse_uuid
from faultline.issues import tags
from faultline.releases import service as releases
from faultline.symbols import repairjobs
from faultline.symbols import service as symbol_sets
from faultline.symbols.models import SymbolSet
from faultline.symbols.packaging import UploadProblem, prepare
from faultline.symbols.runtime import runtime_for
from faultline.symbols.storage import MAX_SYMBOL_SET_BYTES
from faultline.web import flash, forms, sessions
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.errors import LoginRequired, WebError, not_found
from faultline.web.pager import Pager
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

STATUSES = (("all", "All"), ("valid", "Uploaded"), ("invalid", "Failed"))
ORDERS = (("-created_at", "Newest"), ("-last_used", "Recently used"), ("ref", "Reference"))
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and the small text fields
RECENT_JOBS = 5


def sets_url(project_id: int) -> str:
    return f"/project/{project_id}/symbol-sets"


def _state(request: Request) -> dict[str, str]:
    query = request.query_params
    status = query.get("status") or "all"
    order = query.get("order") or "-created_at"
    return {
        "status": status if status in dict(STATUSES) else "all",
        "order": order if order in dict(ORDERS) else "-created_at",
        "q": (query.get("q") or "")[:200],
    }


def _set_view(symbol_set: SymbolSet, release: Any) -> dict[str, Any]:
    if symbol_set.storage_ptr is None:
        status, label = "failed", "failed"
    elif symbol_set.content_hash is None:
        status, label = "pending", "upload not finished"
    else:
        status, label = "ready", "uploaded"
    return {
        "id": symbol_set.id,
        "ref": symbol_set.ref,
        "status": status,
        "status_label": label,
        "failure_reason": symbol_set.failure_reason,
        "created_at": symbol_set.created_at,
        "last_used": symbol_set.last_used,
        "release": release.version if release is not None else None,
    }


def render_sets(
    request: Request,
    page: ProjectPage,
    *,
    upload_errors: dict[str, str] | None = None,
    chunk_id: str = "",
    status_code: int = 200,
) -> Response:
    state = _state(request)
    limit, offset = Pager.window(request.query_params)
    stmt = symbol_sets.list_query(
        page.project.id, ref=None, search=state["q"] or None, status=state["status"], order_by=state["order"]
    )
    with get_db(request).read() as session:
        total = session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
        rows = session.execute(stmt.limit(limit).offset(offset)).all()
        jobs = [
            repairjobs.serialize_job(job)
            for job in session.execute(repairjobs.jobs_query(page.project.id).limit(RECENT_JOBS)).scalars()
        ]
    kept = {k: v for k, v in state.items() if v and v != {"status": "all", "order": "-created_at"}.get(k)}
    context = {
        "page_title": f"Symbol sets · {page.project.name}",
        "project": page.project,
        "nav": "symbols",
        "switch_section": "symbol-sets",
        "state": state,
        "statuses": STATUSES,
        "orders": ORDERS,
        "sets": [_set_view(s, r) for s, r in rows],
        "pager": Pager.from_query({**kept, **_window(request)}, total=total, path=sets_url(page.project.id)),
        "total": total,
        "jobs": jobs,
        "upload_errors": upload_errors or {},
        "chunk_id": chunk_id,
        "max_mb": MAX_SYMBOL_SET_BYTES // (1024 * 1024),
    }
    return get_templates(request).response(request, "symbol_sets.html", context, status_code=status_code)


def _window(request: Request) -> dict[str, str]:
    return {k: request.query_params[k] for k in ("limit", "offset") if k in request.query_params}


@router.get("/project/{project_id}/symbol-sets")
def symbol_sets_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return render_sets(request, page)


@router.post("/project/{project_id}/symbol-sets/{symbol_set_id}/delete")
def delete_symbol_set(
    request: Request,
    symbol_set_id: str,
    _form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    runtime = runtime_for(request.app.state)
    try:
        with get_db(request).write() as session:
            symbol_sets.delete(session, runtime, page.project.id, symbol_set_id)
    except NotFound:
        raise not_found("symbol set") from None
    response = RedirectResponse(sets_url(page.project.id), status_code=303)
    flash.add(request, response, "Symbol set deleted. Frames resolved with it keep their names.")
    return response


async def _upload_form(request: Request) -> FormData:
    """The multipart upload form: session + CSRF checked, size bounded before anything is parsed."""
    active = getattr(request.state, "web_session", None)
    if active is None:
        raise LoginRequired()
    declared = parse_ascii_int(request.headers.get("content-length"), max_digits=20)
    if declared is None:
        raise WebError(411, "Uploads must declare their size (Content-Length).", title="Length required")
    if declared > 2 * MAX_SYMBOL_SET_BYTES + UPLOAD_OVERHEAD:
        raise WebError(413, f"Uploads are limited to {MAX_SYMBOL_SET_BYTES // (1024 * 1024)} MiB per file.")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise WebError(415, "Upload the files with the form on the symbol sets page.")
    try:
        form = await request.form(max_files=3, max_fields=10, max_part_size=64 * 1024)
    except Exception:  # malformed multipart bodies of every kind end up here
        raise WebError(400, "The upload could not be read; try again from the symbol sets page.") from None
    token = form.get("csrf_token")
    if not sessions.csrf_matches(active.csrf_token, token if isinstance(token, str) else None):
        raise WebError(403, "This form was not submitted from a Faultline page (CSRF token missing or wrong).")
    return form


async def _file_bytes(form: FormData, name: str) -> bytes | None:
    item = form.get(name)
    if not isinstance(item, UploadFile) or not item.filename:
        return None
    data = await item.read(MAX_SYMBOL_SET_BYTES + 1)
    if len(data) > MAX_SYMBOL_SET_BYTES:
        raise UploadProblem(name, f"This file is larger than {MAX_SYMBOL_SET_BYTES // (1024 * 1024)} MiB.")
    return data or None


@router.post("/project/{project_id}/symbol-sets/upload")
async def upload_symbol_set(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    form = await _upload_form(request)
    chunk_id = forms.text(form, "chunk_id", 5000)
    try:
        try:
            script = await _file_bytes(form, "script")
            sourcemap = await _file_bytes(form, "sourcemap")
            bundle = await _file_bytes(form, "bundle")
        finally:
            await form.close()
        limit = request.app.state.settings.symbol_set_max_bytes
        prepared = prepare(chunk_id, script, sourcemap, bundle, max_bytes=limit)
        symbol_sets.check_chunk_id(prepared.chunk_id)
    except UploadProblem as exc:
        return render_sets(request, page, upload_errors={exc.field: exc.message}, chunk_id=chunk_id, status_code=400)
    except DomainError as exc:
        return render_sets(request, page, upload_errors={"chunk_id": exc.detail}, chunk_id=chunk_id, status_code=400)
    runtime = runtime_for(request.app.state)
    try:
        with get_db(request).write() as session:
            symbol_sets.create_from_file(
                session, runtime, page.project.id, prepared.chunk_id, None, io.BytesIO(prepared.blob)
            )
    except DomainError as exc:
        return render_sets(request, page, upload_errors={"form": exc.detail}, chunk_id=chunk_id, status_code=400)
    response = RedirectResponse(sets_url(page.project.id), status_code=303)
    flash.add(
        request,
        response,
        f"Uploaded the {prepared.description} for chunk {prepared.chunk_id}. "
        "Recent events that used it are being re-symbolicated.",
    )
    return response


# --------------------------------------------------------------------------------------------------------- releases


def releases_url(project_id: int) -> str:
    return f"/project/{project_id}/releases"


@router.get("/project/{project_id}/releases")
def releases_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    limit, offset = Pager.window(request.query_params)
    stmt = releases.list_stmt(page.project.id)
    with get_db(request).read() as session:
        total = session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
        found = list(session.execute(stmt.limit(limit).offset(offset)).scalars())
        counts = dict(
            session.execute(
                sa.select(SymbolSet.release_id, sa.func.count())
                .where(SymbolSet.project_id == page.project.id, SymbolSet.release_id.in_([r.id for r in found]))
                .group_by(SymbolSet.release_id)
            ).all()
        )
        seen = tags.seen_releases(session, page.project.id)
    rows = []
    for release in found:
        metadata = release.metadata_ if isinstance(release.metadata_, dict) else {}
        git = metadata.get("git") if isinstance(metadata.get("git"), dict) else {}
        rows.append(
            {
                "id": release.id,
                "version": release.version,
                "project": release.project_name,
                "hash_id": release.hash_id,
                "created_at": release.created_at,
                "commit": str(git.get("commit_id") or "")[:40],
                "branch": str(git.get("branch") or "")[:200],
                "symbol_sets": int(counts.get(release.id, 0)),
            }
        )
    context = {
        "page_title": f"Releases · {page.project.name}",
        "project": page.project,
        "nav": "releases",
        "switch_section": "releases",
        "releases": rows,
        "seen_releases": seen,
        "pager": Pager.from_query(_window(request), total=total, path=releases_url(page.project.id)),
        "total": total,
    }
    return get_templates(request).response(request, "releases.html", context)


@router.post("/project/{project_id}/releases/{release_id}/delete")
def delete_release(
    request: Request,
    release_id: str,
    _form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    parsed = parse_uuid(release_id)
    if parsed is None:
        raise not_found("release")
    with get_db(request).write() as session:
        if not releases.delete(session, page.project.id, parsed):
            raise not_found("release")
    response = RedirectResponse(releases_url(page.project.id), status_code=303)
    flash.add(request, response, "Release deleted, with its symbol sets.")
    return response
