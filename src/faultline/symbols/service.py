"""Symbol-set operations behind the REST API: listing, deletion and every upload flow (spec §2.4, §2.4.1).

The error codes raised here (`content_hash_mismatch`, `release_id_mismatch`, `file_too_large`, …) are the contract
posthog-cli reacts to, so they follow PostHog exactly. Where PostHog would answer 500 (an unknown release on the
deprecated upload paths) we answer a 400 with the same `invalid_release_id` code the bulk flow uses. One code is
ours: `decompressed_too_large`, for a file within the upload limit whose zstd contents inflate past
FAULTLINE_SYMBOL_SET_MAX_BYTES (a 14 KB file can hold a 450 MB map); the set is dropped like a too-large file.

An upload only counts once it is *confirmed* (content hash stored): that is when cached frames of the set are
dropped, the in-process caches forget the ref and stored events that used it are queued for re-symbolication.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import utcnow
from faultline.errors import BadRequest, NotFound, Unavailable, ValidationFailed
from faultline.ids import parse_uuid
from faultline.issues.sanitize import is_storable
from faultline.releases.models import Release
from faultline.symbols import blobformat, repairjobs
from faultline.symbols.batchrows import LAST_USED_REFRESH, release_json
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.symbols.resolver import MAX_REF_BYTES
from faultline.symbols.runtime import SymbolsRuntime
from faultline.symbols.storage import MAX_SYMBOL_SET_BYTES, BlobTooLarge, new_key

ORDERINGS: dict[str, tuple[Any, ...]] = {
    "created_at": (SymbolSet.created_at.asc(), SymbolSet.id.asc()),
    "-created_at": (SymbolSet.created_at.desc(), SymbolSet.id.desc()),
    "last_used": (SymbolSet.last_used.asc(), SymbolSet.id.asc()),
    "-last_used": (SymbolSet.last_used.desc(), SymbolSet.id.desc()),
    "ref": (SymbolSet.ref.asc(),),
    "-ref": (SymbolSet.ref.desc(),),
}


class UploadRefused(ValidationFailed):
    """An upload refused with one of the codes posthog-cli reacts to."""


def upload_error(code: str, detail: str, attr: str | None = None) -> UploadRefused:
    return UploadRefused(detail, attr, code)


# ---------------------------------------------------------------------------------------------------------------------
# Reading


def serialize(symbol_set: SymbolSet, release: Release | None) -> dict[str, Any]:
    return {
        "id": str(symbol_set.id),
        "ref": symbol_set.ref,
        "team_id": symbol_set.project_id,
        "created_at": symbol_set.created_at,
        "last_used": symbol_set.last_used,
        "failure_reason": symbol_set.failure_reason,
        "has_uploaded_file": symbol_set.storage_ptr is not None,
        "release": release_json(release),
    }


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_query(
    project_id: int, *, ref: str | None, search: str | None, status: str, order_by: str | None
) -> sa.Select[Any]:
    stmt = (
        sa.select(SymbolSet, Release)
        .outerjoin(Release, Release.id == SymbolSet.release_id)
        .where(SymbolSet.project_id == project_id)
    )
    # A value no stored (cleaned) string can hold matches nothing; PostgreSQL would refuse it as a parameter.
    if (ref and not is_storable(ref)) or (search and not is_storable(search)):
        return stmt.where(sa.false())
    if ref:
        stmt = stmt.where(SymbolSet.ref == ref)
    if search:
        pattern = _like(search)
        matching_releases = sa.select(Release.id).where(
            Release.project_id == project_id,
            sa.or_(
                Release.version.ilike(pattern, escape="\\"),
                Release.project_name.ilike(pattern, escape="\\"),
                Release.metadata_["git"]["commit_id"].as_string().ilike(pattern, escape="\\"),
            ),
        )
        by_ref = SymbolSet.ref.ilike(pattern, escape="\\")
        stmt = stmt.where(sa.or_(by_ref, SymbolSet.release_id.in_(matching_releases)))
    if status == "valid":
        stmt = stmt.where(SymbolSet.storage_ptr.is_not(None))
    elif status == "invalid":
        stmt = stmt.where(SymbolSet.storage_ptr.is_(None))
    return stmt.order_by(*ORDERINGS[order_by or "-created_at"])


def get(session: Session, project_id: int, symbol_set_id: str) -> tuple[SymbolSet, Release | None]:
    parsed = parse_uuid(symbol_set_id)
    if parsed is None:
        raise NotFound()
    found = session.execute(
        sa.select(SymbolSet, Release)
        .outerjoin(Release, Release.id == SymbolSet.release_id)
        .where(SymbolSet.project_id == project_id, SymbolSet.id == parsed)
    ).first()
    if found is None:
        raise NotFound()
    return found[0], found[1]


def download_url(session: Session, runtime: SymbolsRuntime, project_id: int, symbol_set_id: str) -> str:
    symbol_set, _ = get(session, project_id, symbol_set_id)
    if not symbol_set.storage_ptr:
        raise NotFound("Symbol set has no uploaded file.")
    try:
        return runtime.storage.download_url(symbol_set.storage_ptr)
    except Exception:
        raise Unavailable("Could not generate download URL.") from None


# ---------------------------------------------------------------------------------------------------------------------
# Deleting


def _delete_sets(session: Session, runtime: SymbolsRuntime, project_id: int, sets: Sequence[SymbolSet]) -> int:
    """Unresolved cached frames first (resolved ones stay for the UI), then the rows; blobs once that commits."""
    if not sets:
        return 0
    ids = [s.id for s in sets]
    session.execute(
        sa.delete(StackFrame).where(
            StackFrame.project_id == project_id, StackFrame.symbol_set_id.in_(ids), StackFrame.resolved.is_(False)
        )
    )
    session.execute(sa.delete(SymbolSet).where(SymbolSet.project_id == project_id, SymbolSet.id.in_(ids)))
    for symbol_set in sets:
        ref, key = symbol_set.ref, symbol_set.storage_ptr
        runtime.after_commit(session, lambda ref=ref: runtime.resolver.invalidate(project_id, ref))
        if key:
            runtime.after_commit(session, lambda key=key: runtime.storage.delete(key))
    return len(sets)


def delete(session: Session, runtime: SymbolsRuntime, project_id: int, symbol_set_id: str) -> None:
    symbol_set, _ = get(session, project_id, symbol_set_id)
    _delete_sets(session, runtime, project_id, [symbol_set])


def bulk_delete(session: Session, runtime: SymbolsRuntime, project_id: int, ids: Iterable[uuid.UUID]) -> int:
    wanted = list(set(ids))
    if not wanted:
        return 0
    sets = session.scalars(sa.select(SymbolSet).where(SymbolSet.project_id == project_id, SymbolSet.id.in_(wanted)))
    return _delete_sets(session, runtime, project_id, list(sets))


# ---------------------------------------------------------------------------------------------------------------------
# Uploads: shared pieces


@dataclass(frozen=True)
class UploadRequest:
    chunk_id: str
    release_id: str | None
    content_hash: str | None
    content_length: int | None = None


def _release_for(session: Session, project_id: int, release_id: str | None) -> Release | None:
    if not release_id:
        return None
    parsed = parse_uuid(release_id)
    release = session.get(Release, parsed) if parsed is not None else None
    if release is None or release.project_id != project_id:
        raise upload_error("invalid_release_id", f"Unknown release ID provided: {release_id}")
    return release


def _validate(session: Session, project_id: int, uploads: Sequence[UploadRequest]) -> None:
    duplicates = sorted(chunk for chunk, count in Counter(u.chunk_id for u in uploads).items() if count > 1)
    if duplicates:
        raise upload_error("invalid_chunk_ids", f"Duplicate chunk IDs provided: {', '.join(duplicates)}")
    release_ids = {u.release_id for u in uploads if u.release_id}
    malformed = sorted(r for r in release_ids if parse_uuid(r) is None)
    if malformed:
        raise upload_error("invalid_release_id", f"Invalid release ID provided: {', '.join(malformed)}")
    if release_ids:
        found = {
            str(r)
            for r in session.scalars(
                sa.select(Release.id).where(
                    Release.project_id == project_id, Release.id.in_([parse_uuid(r) for r in release_ids])
                )
            )
        }
        for release_id in sorted(release_ids):
            if str(parse_uuid(release_id)) not in found:
                raise upload_error("invalid_release_id", f"Unknown release ID provided: {release_id}")
    oversized = sorted(
        u.chunk_id for u in uploads if u.content_length is not None and u.content_length > MAX_SYMBOL_SET_BYTES
    )
    if oversized:
        raise upload_error(
            "file_too_large", f"Symbol sets larger than 100MB cannot be uploaded: {', '.join(oversized)}"
        )


def _binds_release(existing: SymbolSet, upload: UploadRequest) -> bool:
    """An orphan set may join a release; a set bound to a release never moves to another."""
    if not upload.release_id:
        return False
    wanted = parse_uuid(upload.release_id)
    if existing.release_id is None:
        return True
    if existing.release_id != wanted:
        raise upload_error("release_id_mismatch", f"Symbol set {existing.ref} already has a release ID")
    return False


def _needs_upload(existing: SymbolSet, upload: UploadRequest, force: bool, skip_on_conflict: bool) -> bool:
    if upload.content_hash is None:
        if existing.content_hash is not None:
            raise upload_error(
                "content_hash_required",
                f"Symbol set {existing.ref} already has content; provide a content_hash to update it.",
            )
        return True
    if existing.content_hash is None:
        return True
    if existing.content_hash == upload.content_hash:
        return False
    if force:
        return True
    if skip_on_conflict:
        return False
    raise upload_error("content_hash_mismatch", f"Symbol set {existing.ref} already exists with different content.")


def _refresh_last_used(session: Session, project_id: int, refs: Sequence[str]) -> None:
    """Re-uploading a set that events already used keeps it fresh (throttled to once per 12 h). A set no event has
    used keeps `last_used` null, as in PostHog: only symbolication sets it first (`BatchRows.touch`), so "never
    used" stays visible in the list and to retention however often CI re-uploads it."""
    if not refs:
        return
    now = utcnow()
    session.execute(
        sa.update(SymbolSet)
        .where(
            SymbolSet.project_id == project_id,
            SymbolSet.ref.in_(list(refs)),
            SymbolSet.last_used.is_not(None),
            SymbolSet.last_used < now - LAST_USED_REFRESH,
        )
        .values(last_used=now)
    )


def _existing(session: Session, project_id: int, refs: Sequence[str]) -> dict[str, SymbolSet]:
    rows = session.scalars(sa.select(SymbolSet).where(SymbolSet.project_id == project_id, SymbolSet.ref.in_(refs)))
    return {row.ref: row for row in rows}


def _upload_urls(runtime: SymbolsRuntime, key: str) -> dict[str, Any]:
    return {"presigned_url": runtime.storage.upload_target(key, max_bytes=MAX_SYMBOL_SET_BYTES)}


def _replace_blob(session: Session, runtime: SymbolsRuntime, symbol_set: SymbolSet, key: str | None) -> None:
    old = symbol_set.storage_ptr
    symbol_set.storage_ptr = key
    if old and old != key:
        runtime.after_commit(session, lambda: runtime.storage.delete(old))


def confirm_upload(session: Session, runtime: SymbolsRuntime, symbol_set: SymbolSet, content_hash: str) -> None:
    """The set now has data: clear its failure, drop its cached frames, forget the ref, queue the repair."""
    symbol_set.content_hash = content_hash
    symbol_set.failure_reason = None
    session.flush()
    session.execute(
        sa.delete(StackFrame).where(
            StackFrame.project_id == symbol_set.project_id, StackFrame.symbol_set_id == symbol_set.id
        )
    )
    project_id, ref = symbol_set.project_id, symbol_set.ref
    runtime.after_commit(session, lambda: runtime.resolver.invalidate(project_id, ref))
    repairjobs.enqueue(session, runtime.settings, project_id=project_id, symbol_set_id=symbol_set.id, ref=ref)


def _inflates_too_far(runtime: SymbolsRuntime, data: bytes | IO[bytes]) -> bool:
    """Whether a symbol-data file's contents inflate past FAULTLINE_SYMBOL_SET_MAX_BYTES, measured by streaming
    (nothing kept). Files we cannot read are not refused here: loading explains why they are unusable."""
    try:
        blobformat.check_contents(data, runtime.settings.symbol_set_max_bytes)
    except blobformat.ContentsTooLarge:
        return True
    except blobformat.BlobFormatError:
        return False
    return False


def _verify_blob(runtime: SymbolsRuntime, symbol_set: SymbolSet, declared: str) -> str | None:
    """None if the stored object matches `declared`, else the error code to answer with."""
    assert symbol_set.storage_ptr is not None
    size = runtime.storage.size(symbol_set.storage_ptr)
    if size is None:
        return "file_not_found"
    if size == 0 or size > MAX_SYMBOL_SET_BYTES:
        return "file_too_large"
    try:
        data = runtime.storage.get(symbol_set.storage_ptr, max_bytes=MAX_SYMBOL_SET_BYTES)
    except BlobTooLarge:  # replaced by a bigger file since `size` looked
        return "file_too_large"
    if data is None:
        return "file_not_found"
    if hashlib.sha512(data).hexdigest() != declared.strip().lower():
        return "content_hash_mismatch"
    if _inflates_too_far(runtime, data):
        return "decompressed_too_large"
    return None


# Problems after which the set is deleted (its file can never be used) before the error is answered.
_DROPPED = ("file_too_large", "decompressed_too_large")


def _verify_message(runtime: SymbolsRuntime, problem: str) -> str:
    if problem == "decompressed_too_large":
        return (
            f"The symbol set's contents inflate past {runtime.settings.symbol_set_max_bytes} bytes "
            "(FAULTLINE_SYMBOL_SET_MAX_BYTES)."
        )
    return _VERIFY_MESSAGES[problem]


_VERIFY_MESSAGES = {
    "file_not_found": "No file has been uploaded for the symbol set.",
    "file_too_large": "The uploaded symbol set file was too large.",
    "content_hash_mismatch": "The uploaded file does not match content_hash (SHA-512 hex of the file).",
}


# ---------------------------------------------------------------------------------------------------------------------
# Bulk flow (current posthog-cli)


def bulk_check(
    session: Session, project_id: int, uploads: Sequence[UploadRequest], *, force: bool, skip_on_conflict: bool
) -> list[str]:
    """Dry run of `bulk_start`: same validation and conflicts, no rows, no URLs."""
    _validate(session, project_id, uploads)
    existing = _existing(session, project_id, [u.chunk_id for u in uploads])
    to_upload: list[str] = []
    unchanged: list[str] = []
    for upload in uploads:
        row = existing.get(upload.chunk_id)
        if row is None:
            to_upload.append(upload.chunk_id)
            continue
        binds = _binds_release(row, upload)
        needs = _needs_upload(row, upload, force, skip_on_conflict)
        (to_upload if binds or needs else unchanged).append(upload.chunk_id)
    _refresh_last_used(session, project_id, unchanged)
    return to_upload


def bulk_start(
    session: Session,
    runtime: SymbolsRuntime,
    project_id: int,
    uploads: Sequence[UploadRequest],
    *,
    force: bool,
    skip_on_conflict: bool,
) -> dict[str, dict[str, Any]]:
    _validate(session, project_id, uploads)
    existing = _existing(session, project_id, [u.chunk_id for u in uploads])
    id_map: dict[str, dict[str, Any]] = {}
    for upload in uploads:
        row = existing.get(upload.chunk_id)
        if row is None:
            key = new_key()
            row = SymbolSet(
                project_id=project_id,
                ref=upload.chunk_id,
                storage_ptr=key,
                release_id=parse_uuid(upload.release_id) if upload.release_id else None,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            id_map[upload.chunk_id] = {**_upload_urls(runtime, key), "symbol_set_id": str(row.id)}
            continue
        if _binds_release(row, upload):
            row.release_id = parse_uuid(upload.release_id)
        if _needs_upload(row, upload, force, skip_on_conflict):
            key = new_key()
            _replace_blob(session, runtime, row, key)
            # The hash is stored by bulk_finish_upload, once the new file is confirmed.
            row.content_hash = None
            id_map[upload.chunk_id] = {**_upload_urls(runtime, key), "symbol_set_id": str(row.id)}
    session.flush()
    _refresh_last_used(session, project_id, [u.chunk_id for u in uploads])
    return id_map


def bulk_finish(
    session: Session, runtime: SymbolsRuntime, project_id: int, content_hashes: dict[str, str]
) -> UploadRefused | None:
    """Confirm uploads. Returns (rather than raises) the error so that deleting oversized sets still commits."""
    wanted = {key: parse_uuid(key) for key in content_hashes}
    unknown = sorted(key for key, value in wanted.items() if value is None)
    sets = {
        str(s.id): s
        for s in session.scalars(
            sa.select(SymbolSet).where(
                SymbolSet.project_id == project_id, SymbolSet.id.in_([v for v in wanted.values() if v is not None])
            )
        )
    }
    unknown += sorted(key for key, value in wanted.items() if value is not None and str(value) not in sets)
    if unknown:
        raise upload_error("symbol_set_not_found", f"Unknown symbol set IDs: {', '.join(sorted(unknown))}")
    by_key = {key: sets[str(value)] for key, value in wanted.items()}
    for key, symbol_set in by_key.items():
        problem = _verify_blob(runtime, symbol_set, content_hashes[key]) if symbol_set.storage_ptr else "file_not_found"
        if problem in _DROPPED:
            _delete_sets(session, runtime, project_id, [symbol_set])
            return upload_error(problem, f"{_verify_message(runtime, problem)} (chunk id {symbol_set.ref})")
        if problem is not None:
            return upload_error(problem, f"{_verify_message(runtime, problem)} (chunk id {symbol_set.ref})")
    for key, symbol_set in by_key.items():
        confirm_upload(session, runtime, symbol_set, content_hashes[key].strip().lower())
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Deprecated single-set flows (older CLIs)


def _claim(session: Session, project_id: int, chunk_id: str, release: Release | None) -> SymbolSet:
    symbol_set = session.scalar(
        sa.select(SymbolSet).where(SymbolSet.project_id == project_id, SymbolSet.ref == chunk_id)
    )
    if symbol_set is None:
        symbol_set = SymbolSet(project_id=project_id, ref=chunk_id, release_id=release.id if release else None)
        session.add(symbol_set)
        session.flush()
    elif symbol_set.release_id is None:
        symbol_set.release_id = release.id if release else None
    elif release is None or symbol_set.release_id != release.id:
        raise upload_error(
            "release_id_mismatch", "Symbol set has already been uploaded for a different release", "release_id"
        )
    return symbol_set


def check_chunk_id(chunk_id: str | None) -> str:
    if not chunk_id:
        raise BadRequest("chunk_id query parameter is required", code="required")
    if not is_storable(chunk_id):
        raise upload_error("invalid_chunk_ids", "chunk_id may not contain NUL or unpaired surrogates", "chunk_id")
    if len(chunk_id.encode("utf-8")) > MAX_REF_BYTES:
        raise upload_error("invalid_chunk_ids", f"chunk_id must be at most {MAX_REF_BYTES} bytes", "chunk_id")
    return chunk_id


def create_from_file(
    session: Session,
    runtime: SymbolsRuntime,
    project_id: int,
    chunk_id: str,
    release_id: str | None,
    fileobj: IO[bytes],
) -> SymbolSet:
    """POST `symbol_sets/?chunk_id=` with the file in the body: stored as-is, confirmed at once."""
    release = _release_for(session, project_id, release_id)
    symbol_set = _claim(session, project_id, chunk_id, release)
    if _inflates_too_far(runtime, fileobj):
        raise upload_error("decompressed_too_large", _verify_message(runtime, "decompressed_too_large"))
    fileobj.seek(0)
    digest = hashlib.sha512()
    for chunk in iter(lambda: fileobj.read(1024 * 1024), b""):
        digest.update(chunk)
    fileobj.seek(0)
    key = new_key()
    runtime.storage.put_file(key, fileobj)
    # If the transaction fails after this point, the new blob is an orphan.
    runtime.after_rollback(session, lambda: runtime.storage.delete(key))
    _replace_blob(session, runtime, symbol_set, key)
    confirm_upload(session, runtime, symbol_set, digest.hexdigest())
    return symbol_set


def start_upload(
    session: Session, runtime: SymbolsRuntime, project_id: int, chunk_id: str, release_id: str | None
) -> dict[str, Any]:
    release = _release_for(session, project_id, release_id)
    symbol_set = _claim(session, project_id, chunk_id, release)
    key = new_key()
    _replace_blob(session, runtime, symbol_set, key)
    symbol_set.content_hash = None
    session.execute(
        sa.delete(StackFrame).where(StackFrame.project_id == project_id, StackFrame.symbol_set_id == symbol_set.id)
    )
    session.flush()
    return {"presigned_url": runtime.storage.upload_target(key), "symbol_set_id": str(symbol_set.id)}


def finish_upload(
    session: Session, runtime: SymbolsRuntime, project_id: int, symbol_set_id: str, content_hash: str | None
) -> UploadRefused | None:
    if not content_hash:
        raise upload_error(
            "content_hash_required", "A content hash must be provided to complete symbol set upload.", "content_hash"
        )
    symbol_set, _ = get(session, project_id, symbol_set_id)
    problem = _verify_blob(runtime, symbol_set, content_hash) if symbol_set.storage_ptr else "file_not_found"
    if problem in _DROPPED:
        _delete_sets(session, runtime, project_id, [symbol_set])
        return upload_error(problem, _verify_message(runtime, problem))
    if problem is not None:
        return upload_error(problem, _verify_message(runtime, problem))
    if not symbol_set.content_hash:
        confirm_upload(session, runtime, symbol_set, content_hash.strip().lower())
    return None


def delete_sets(session: Session, runtime: SymbolsRuntime, project_id: int, sets: Sequence[SymbolSet]) -> int:
    """Delete symbol sets with their unresolved cached frames, and their blobs once `session` commits (retention's
    expiry of unused sets)."""
    return _delete_sets(session, runtime, project_id, sets)
