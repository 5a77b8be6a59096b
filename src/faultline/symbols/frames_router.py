"""`…/error_tracking/stack_frames/` — read-only access to the resolved stack-frame cache (spec §2.3, seed 000).

A frame is addressed by `"<raw_id>/<part>"` (the SHA-512 of the raw frame, and the index when one raw frame
resolved into several); its row id (a UUID) works too. The UI and PostHog's frontend fetch the frames of an event
with `POST batch_get/`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.ids import parse_ascii_int, parse_uuid
from faultline.issues.sanitize import is_storable
from faultline.releases import service as releases
from faultline.releases.models import Release
from faultline.releases.schemas import ReleaseOut
from faultline.symbols.models import StackFrame, SymbolSet

router = Router(tags=["error tracking: stack frames"])
BASE = "/error_tracking/stack_frames"

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")

RAW_HASH_MAX = 128
PART_MAX = 2**31 - 1
# One query handles this many (raw_id, part) pairs: keeps SQLite's expression depth and variable count far from
# their limits whatever a client sends.
PAIRS_PER_QUERY = 200
BATCH_MAX_IDS = 10_000
LIST_MAX_IDS = PAIRS_PER_QUERY
# `batch_get` without filters returns "all frames" in PostHog; we stop at this many (newest first).
BATCH_UNFILTERED_MAX = 1_000


class StackFrameOut(BaseModel):
    id: uuid.UUID
    raw_id: str = Field(description='"<sha512 of the raw frame>/<part>"')
    created_at: dt.datetime
    contents: Any = None
    resolved: bool
    context: Any = None
    symbol_set_ref: str | None
    release: ReleaseOut | None


class StackFrameResults(BaseModel):
    results: list[StackFrameOut]


class BatchGetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    raw_ids: list[Any] | None = Field(
        None,
        max_length=BATCH_MAX_IDS,
        description='Frame ids "<raw_id>/<part>" (a bare raw id means part 0). Malformed ids match nothing.',
        json_schema_extra={"items": {"type": "string"}},
    )
    symbol_set: Any = Field(None, description="Only frames resolved with this symbol set (UUID).")


def split_raw_id(value: str) -> tuple[str, int]:
    """PostHog's rule: exactly two `/`-parts with an integer second part → (hash, part); else (whole, 0). The part
    is ASCII digits only (`int()` would also read `١`, `+1` or `1_0`, making aliases of one frame)."""
    pieces = value.split("/")
    if len(pieces) == 2:
        part = parse_ascii_int(pieces[1], max_digits=10)
        if part is not None:
            return pieces[0], part
    return value, 0


def _pairs(values: Iterable[Any]) -> list[tuple[str, int]]:
    """Requested (raw_id, part) pairs, dropping those no stored frame can have."""
    pairs: dict[tuple[str, int], None] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        raw, part = split_raw_id(value)
        if raw and len(raw) <= RAW_HASH_MAX and is_storable(raw) and 0 <= part <= PART_MAX:
            pairs[(raw, part)] = None
    return list(pairs)


def _pair_clause(pairs: Sequence[tuple[str, int]]) -> sa.ColumnElement[bool]:
    by_part: dict[int, list[str]] = {}
    for raw, part in pairs:
        by_part.setdefault(part, []).append(raw)
    return sa.or_(*(sa.and_(StackFrame.part == part, StackFrame.raw_id.in_(raws)) for part, raws in by_part.items()))


def _frames_stmt(project_id: int) -> sa.Select[Any]:
    return (
        sa.select(StackFrame, SymbolSet.ref, Release)
        .outerjoin(SymbolSet, SymbolSet.id == StackFrame.symbol_set_id)
        .outerjoin(Release, Release.id == SymbolSet.release_id)
        .where(StackFrame.project_id == project_id)
    )


def frame_contexts(session: Session, project_id: int, raw_ids: Iterable[str]) -> dict[str, Any]:
    """Stored context lines (`{"before", "line", "after"}`) per `"<raw_id>/<part>"`, for the issue page's trace."""
    pairs = _pairs(raw_ids)
    found: dict[str, Any] = {}
    for start in range(0, len(pairs), PAIRS_PER_QUERY):
        chunk = pairs[start : start + PAIRS_PER_QUERY]
        rows = session.execute(
            sa.select(StackFrame.raw_id, StackFrame.part, StackFrame.context).where(
                StackFrame.project_id == project_id, StackFrame.context.is_not(None), _pair_clause(chunk)
            )
        ).all()
        found.update({f"{raw}/{part}": context for raw, part, context in rows if context})
    return found


def serialize(row: Any) -> dict[str, Any]:
    frame, ref, release = row
    return {
        "id": frame.id,
        "raw_id": f"{frame.raw_id}/{frame.part}",
        "created_at": frame.created_at,
        "contents": frame.contents,
        "resolved": frame.resolved,
        "context": frame.context,
        "symbol_set_ref": ref,
        "release": releases.serialize(release) if release is not None else None,
    }


@router.get(f"{BASE}/", response_model=Page[StackFrameOut], summary="List stack frames")
def list_frames(
    raw_ids: str | None = Query(None, description='Comma-separated "<raw_id>/<part>" ids.'),
    symbol_set: str | None = Query(None, description="Symbol set id (UUID)."),
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    stmt = _frames_stmt(ctx.project_id)
    if raw_ids:
        requested = [v.strip() for v in raw_ids.split(",") if v.strip()]
        if len(requested) > LIST_MAX_IDS:
            raise errors.validation_error(
                f"Ensure this field has no more than {LIST_MAX_IDS} elements.", "raw_ids", "max_length"
            )
        pairs = _pairs(requested)
        if not pairs:
            return page.envelope(0, [])
        stmt = stmt.where(_pair_clause(pairs))
    if symbol_set:
        parsed = parse_uuid(symbol_set)
        if parsed is None:
            raise errors.validation_error("Must be a valid UUID.", "symbol_set")
        stmt = stmt.where(StackFrame.symbol_set_id == parsed)
    stmt = stmt.order_by(StackFrame.created_at.desc(), StackFrame.id)
    return paginate_query(session, page, stmt, serialize, scalars=False)


@router.post(
    f"{BASE}/batch_get/",
    response_model=StackFrameResults,
    summary="Fetch many frames by raw id",
    description="Unpaginated. Without any filter, the newest 1 000 frames of the project.",
)
def batch_get(
    body: BatchGetIn | None = None,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> dict[str, Any]:
    body = body or BatchGetIn()
    base = _frames_stmt(ctx.project_id)
    if body.symbol_set not in (None, ""):
        parsed = parse_uuid(body.symbol_set)
        if parsed is None:
            return {"results": []}
        base = base.where(StackFrame.symbol_set_id == parsed)
    if not body.raw_ids:
        rows = session.execute(
            base.order_by(StackFrame.created_at.desc(), StackFrame.id).limit(BATCH_UNFILTERED_MAX)
        ).all()
        return {"results": [serialize(row) for row in rows]}
    pairs = _pairs(body.raw_ids)
    results: list[dict[str, Any]] = []
    for start in range(0, len(pairs), PAIRS_PER_QUERY):
        chunk = pairs[start : start + PAIRS_PER_QUERY]
        rows = session.execute(base.where(_pair_clause(chunk)).order_by(StackFrame.raw_id, StackFrame.part)).all()
        results.extend(serialize(row) for row in rows)
    return {"results": results}


def _lookup(session: Session, project_id: int, frame_id: str) -> Any:
    stmt = _frames_stmt(project_id)
    parsed = parse_uuid(frame_id)
    if parsed is not None and "/" not in frame_id:
        return session.execute(stmt.where(StackFrame.id == parsed)).first()
    pairs = _pairs([frame_id])
    if not pairs:
        return None
    return session.execute(stmt.where(_pair_clause(pairs))).first()


@router.get(
    f"{BASE}/{{frame_id:path}}/",
    response_model=StackFrameOut,
    summary='Retrieve a frame by "<raw_id>/<part>" or by row id',
    responses={404: {"description": "No such frame."}},
)
def retrieve(frame_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> Any:
    row = _lookup(session, ctx.project_id, frame_id.rstrip("/"))
    if row is None:
        raise errors.not_found()
    return serialize(row)


@router.delete(
    f"{BASE}/{{frame_id:path}}/",
    status_code=405,
    summary="Not allowed: the frame cache is maintained by symbolication",
    responses={405: {"description": "Hard delete of stack frames is not allowed."}},
)
def destroy(frame_id: str, ctx: ProjectContext = Depends(WRITE)) -> Response:
    raise errors.method_not_allowed("DELETE")
