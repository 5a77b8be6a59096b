"""sentry-cli's chunked upload (`sentry-cli sourcemaps upload`): chunks in, artifact bundle assembled, symbol sets out.

sentry-cli 3.x cuts the bundle zip into chunks named by their SHA-1, asks `assemble` which chunks the server lacks,
uploads those, and polls `assemble` until the state is `ok` or `error`. Chunks are content-addressed blobs in the
configured blob store (`sentrychunks/<organization id>/<sha1>`, one namespace per organization so one tenant can
neither read nor probe another's), each verified against its name before it is stored, with a `sentry_chunks` row
that bounds them: an organization's pending chunks are capped in bytes (FAULTLINE_SENTRY_PENDING_BYTES), chunks no
bundle used within FAULTLINE_SENTRY_CHUNK_TTL are swept on its next upload, and `assemble` deletes the chunks it
used (or refused). Assembly is synchronous and bounded (the bundle's size, entry count, inflated size and each
pair's size are all capped before the work), so the first `assemble` call that finds every chunk answers `ok` or
`error` at once.

Each debug id with a source map becomes a symbol set in each project named by the request: ref = the debug id,
contents = the same container posthog-cli uploads (source + map, zstd). A set whose content is unchanged is left
alone (sentry-cli re-uploads the same bundle on every CI run), a changed one is replaced and re-confirmed so stored
events are re-symbolicated, as for any upload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import Organization
from faultline.db import utcnow
from faultline.errors import ValidationFailed
from faultline.releases import versions
from faultline.symbols import artifact_bundle, blobformat
from faultline.symbols.models import SentryChunk, SymbolSet
from faultline.symbols.runtime import SymbolsRuntime
from faultline.symbols.service import confirm_upload
from faultline.symbols.storage import new_key

CHUNK_FOLDER = "sentrychunks"
SHA1 = re.compile(r"[0-9a-f]{40}")
SWEEP_BATCH = 1000


class ChunkRefused(ValidationFailed):
    """A chunk or assemble request that breaks a limit or does not add up; `code` says which."""


def check_checksum(value: object, attr: str) -> str:
    if not isinstance(value, str) or not SHA1.fullmatch(value.strip().lower()):
        raise ChunkRefused("Checksums are 40 hex digits of SHA-1.", attr, "invalid_checksum")
    return value.strip().lower()


def chunk_key(organization_id: uuid.UUID, checksum: str) -> str:
    return f"{CHUNK_FOLDER}/{organization_id}/{checksum}"


def _sweep(session: Session, runtime: SymbolsRuntime, organization_id: uuid.UUID) -> None:
    """Forget this organization's chunks older than FAULTLINE_SENTRY_CHUNK_TTL (abandoned uploads), a bounded
    batch per call; their blobs go once the transaction commits."""
    cutoff = utcnow() - dt.timedelta(seconds=runtime.settings.sentry_chunk_ttl)
    old = session.scalars(
        sa.select(SentryChunk.checksum)
        .where(SentryChunk.organization_id == organization_id, SentryChunk.created_at < cutoff)
        .limit(SWEEP_BATCH)
    ).all()
    if old:
        discard_chunks(session, runtime, organization_id, old)


def store_chunks(
    session: Session, runtime: SymbolsRuntime, organization_id: uuid.UUID, chunks: Sequence[tuple[str, bytes]]
) -> None:
    """Store chunks after checking each is what its name says (sentry-cli names chunks by their SHA-1) and that
    the organization's pending chunks stay within FAULTLINE_SENTRY_PENDING_BYTES."""
    settings = runtime.settings
    for checksum, data in chunks:
        if len(data) > settings.sentry_chunk_bytes:
            raise ChunkRefused(
                f"A chunk holds at most {settings.sentry_chunk_bytes} bytes (FAULTLINE_SENTRY_CHUNK_BYTES).",
                "file",
                "chunk_too_large",
            )
        if hashlib.sha1(data).hexdigest() != checksum:
            raise ChunkRefused(f"Chunk {checksum} does not match its SHA-1.", "file", "checksum_mismatch")
    # One upload of an organization at a time (PostgreSQL; SQLite has one writer anyway): the quota holds exactly.
    session.execute(sa.select(Organization.id).where(Organization.id == organization_id).with_for_update())
    _sweep(session, runtime, organization_id)
    known = set(
        session.scalars(
            sa.select(SentryChunk.checksum).where(
                SentryChunk.organization_id == organization_id,
                SentryChunk.checksum.in_([checksum for checksum, _ in chunks]),
            )
        )
    )
    fresh = {checksum: data for checksum, data in chunks if checksum not in known}
    pending = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SentryChunk.size), 0)).where(
            SentryChunk.organization_id == organization_id
        )
    )
    adding = sum(len(data) for data in fresh.values())
    if int(pending or 0) + adding > settings.sentry_pending_bytes:
        raise ChunkRefused(
            f"This organization has {pending} bytes of uploaded chunks no bundle has used yet; at most "
            f"{settings.sentry_pending_bytes} (FAULTLINE_SENTRY_PENDING_BYTES). Unused chunks expire after "
            f"{settings.sentry_chunk_ttl:g} s.",
            "file",
            "too_many_pending_chunks",
        )
    for checksum, data in fresh.items():
        key = chunk_key(organization_id, checksum)
        runtime.storage.put(key, data)
        runtime.after_rollback(session, _deleter(runtime, key))
        session.add(
            SentryChunk(organization_id=organization_id, checksum=checksum, size=len(data), created_at=utcnow())
        )
    session.flush()


def missing_chunks(session: Session, organization_id: uuid.UUID, checksums: Sequence[str]) -> list[str]:
    present = set(
        session.scalars(
            sa.select(SentryChunk.checksum).where(
                SentryChunk.organization_id == organization_id, SentryChunk.checksum.in_(list(set(checksums)))
            )
        )
    )
    return list(dict.fromkeys(c for c in checksums if c not in present))


def discard_chunks(
    session: Session, runtime: SymbolsRuntime, organization_id: uuid.UUID, checksums: Sequence[str]
) -> None:
    """Forget chunks (assembled, refused or expired); their blobs are deleted once the transaction commits."""
    unique = list(set(checksums))
    if not unique:
        return
    session.execute(
        sa.delete(SentryChunk).where(SentryChunk.organization_id == organization_id, SentryChunk.checksum.in_(unique))
    )
    for checksum in unique:
        runtime.after_commit(session, _deleter(runtime, chunk_key(organization_id, checksum)))


def assemble_bundle(runtime: SymbolsRuntime, organization_id: uuid.UUID, checksum: str, chunks: Sequence[str]) -> bytes:
    """The bundle from its chunks, in order; refused past FAULTLINE_SENTRY_BUNDLE_MAX_BYTES or if its SHA-1 is not
    `checksum`. Every chunk must be present (the caller checked)."""
    limit = runtime.settings.sentry_bundle_max_bytes
    out = bytearray()
    for part in chunks:
        data = runtime.storage.get(chunk_key(organization_id, part), max_bytes=runtime.settings.sentry_chunk_bytes)
        if data is None:
            raise ChunkRefused(f"Chunk {part} disappeared while assembling; upload again.", "chunks", "missing_chunk")
        if len(out) + len(data) > limit:
            raise ChunkRefused(
                f"The artifact bundle is larger than {limit} bytes (FAULTLINE_SENTRY_BUNDLE_MAX_BYTES).",
                "chunks",
                "file_too_large",
            )
        out += data
    if hashlib.sha1(out).hexdigest() != checksum:
        raise ChunkRefused("The assembled bundle does not match its checksum.", "checksum", "checksum_mismatch")
    return bytes(out)


@dataclass
class AssembleResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedSet:
    debug_id: str
    blob: bytes
    content_hash: str


def _check_sourcemap(pair: artifact_bundle.SourcePair) -> None:
    """A cheap check that the map is a source map (JSON with `mappings`, or an index map with `sections`). Building
    symbolic's cache here would cost ~0.4 s per MB of map inside sentry-cli's wait; the resolver builds it when a
    frame needs it, and a map it cannot use then says so in the set's `failure_reason`, as for any upload."""
    try:
        document = orjson.loads(pair.sourcemap)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict) or not (
        isinstance(document.get("mappings"), str) or isinstance(document.get("sections"), list)
    ):
        raise ChunkRefused(
            f'The source map of {pair.url or pair.debug_id} is not a source map (JSON with "mappings").',
            "chunks",
            "invalid_sourcemap",
        )


def prepare_sets(pairs: Sequence[artifact_bundle.SourcePair]) -> list[PreparedSet]:
    """The posthog-cli container (script + map, zstd) of every pair: the CPU-bound part, done before any
    transaction is opened."""
    prepared = []
    for pair in pairs:
        _check_sourcemap(pair)
        blob = blobformat.write(
            blobformat.DataType.SOURCE_AND_MAP, blobformat.encode_source_and_map(pair.source, pair.sourcemap)
        )
        prepared.append(PreparedSet(pair.debug_id, blob, hashlib.sha512(blob).hexdigest()))
    return prepared


def _deleter(runtime: SymbolsRuntime, key: str) -> Callable[[], None]:
    return lambda: runtime.storage.delete(key)


def bundle_limits(runtime: SymbolsRuntime) -> artifact_bundle.Limits:
    settings = runtime.settings
    return artifact_bundle.Limits(
        max_files=settings.sentry_bundle_max_files,
        max_uncompressed_bytes=settings.sentry_bundle_max_uncompressed_bytes,
        max_set_bytes=settings.symbol_set_max_bytes,
    )


def store_sets(
    session: Session,
    runtime: SymbolsRuntime,
    projects: Sequence[tuple[int, str]],
    prepared: Sequence[PreparedSet],
    *,
    version: str | None,
) -> AssembleResult:
    """One symbol set per ((project id, name), debug id); unchanged content is left alone, changed content replaces
    the file and is confirmed (cached frames dropped, re-symbolication queued)."""
    result = AssembleResult()
    refs = [item.debug_id for item in prepared]
    for project_id, project_name in projects:
        release_id = versions.ensure(session, project_id, version, project_name)[0].id if version else None
        existing = {
            row.ref: row
            for row in session.scalars(
                sa.select(SymbolSet).where(SymbolSet.project_id == project_id, SymbolSet.ref.in_(refs))
            )
        }
        for item in prepared:
            row = existing.get(item.debug_id)
            if row is not None and row.content_hash == item.content_hash and row.storage_ptr:
                if row.release_id is None and release_id is not None:
                    row.release_id = release_id
                result.unchanged.append(item.debug_id)
                continue
            key = new_key()
            runtime.storage.put(key, item.blob)
            runtime.after_rollback(session, _deleter(runtime, key))
            if row is None:
                row = SymbolSet(project_id=project_id, ref=item.debug_id, release_id=release_id, created_at=utcnow())
                session.add(row)
                result.created.append(item.debug_id)
            else:
                old = row.storage_ptr
                if old and old != key:
                    runtime.after_commit(session, _deleter(runtime, old))
                if row.release_id is None:
                    row.release_id = release_id
                result.updated.append(item.debug_id)
            row.storage_ptr = key
            session.flush()
            confirm_upload(session, runtime, row, item.content_hash)
    return result
