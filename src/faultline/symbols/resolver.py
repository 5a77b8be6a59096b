"""`SymbolResolver` for the digest pipeline: web and Node JavaScript, Hermes and Java frames (spec §5.3).

Lookup order for a frame's symbols: the symbol-set row for its ref (chunk id, or the script URL for browser frames
without one) → the parsed object for that row's blob in the in-process LRU → the blob from storage, parsed once.
Browser frames with no uploaded set may have their script and source map fetched from the web (SSRF-guarded, see
`fetch.py`); what was fetched is stored as a symbol set like an upload would be. Failures that will not fix
themselves are remembered as *negative* rows (`storage_ptr` null, `failure_reason` set) so every later frame with
that ref fails fast with the same explanation; an upload for the ref turns the row positive again.

All of this runs before the digest's write transaction, through one `SymbolSetBatch` per digest batch: it reads
with a read session (ended before any wait on storage or the network) and leaves the rows it wants written to
`BatchRows`, which writes them inside the transaction (see `batchrows.py`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from faultline.config import Settings
from faultline.pipeline.seams import AppliedSymbols, FrameResolution
from faultline.symbols import blobformat, fetch, frames
from faultline.symbols.batchrows import BatchRows, Row
from faultline.symbols.cache import ByteBudgetLRU, TTLCache
from faultline.symbols.parsed import Kind, Parsed, Unusable, parse
from faultline.symbols.storage import BlobStorage, StorageError, new_key

log = logging.getLogger(__name__)

MAX_REF_BYTES = 2048
ROW_TTL_SECONDS = 5.0
TRANSIENT_FAILURE_TTL_SECONDS = 60.0

JS_PLATFORMS = ("web:javascript", "javascript")


def truncate_ref(ref: str) -> str:
    """Refs are capped at 2048 bytes, cut on a UTF-8 character boundary."""
    encoded = ref.encode("utf-8")
    if len(encoded) <= MAX_REF_BYTES:
        return ref
    return encoded[:MAX_REF_BYTES].decode("utf-8", errors="ignore")


def no_upload_message(ref: str, kind: Kind) -> str:
    return frames.no_upload_message(ref, proguard=kind is Kind.PROGUARD)


@dataclass
class Loaded:
    parsed: Parsed
    row: Row


class LookupFailed(Exception):
    def __init__(self, message: str, row: Row | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


class SymbolSetResolver:
    """Implements `faultline.pipeline.seams.SymbolResolver`. One instance per process; thread-safe."""

    def __init__(
        self,
        settings: Settings,
        storage: BlobStorage,
        *,
        fetcher: fetch.Fetcher | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self._fetcher = fetcher
        self.parsed: ByteBudgetLRU[Parsed | str] = ByteBudgetLRU(settings.symbol_cache_mb * 1024 * 1024)
        self.rows: TTLCache[Row] = TTLCache(ROW_TTL_SECONDS)
        self.transient: TTLCache[str] = TTLCache(TRANSIENT_FAILURE_TTL_SECONDS)

    # Public API ---------------------------------------------------------------------------------------------------

    @property
    def fetcher(self) -> fetch.Fetcher:
        if self._fetcher is None:
            policy = fetch.FetchPolicy(
                allow_internal_ips=self.settings.sourcemap_allow_internal_ips,
                max_bytes=self.settings.sourcemap_max_bytes,
                timeout=float(self.settings.sourcemap_timeout),
            )
            self._fetcher = fetch.Fetcher(policy)
        return self._fetcher

    def invalidate(self, project_id: int, ref: str) -> None:
        """Forget what this process knows about a ref (called when it is uploaded, re-uploaded or deleted)."""
        self.rows.discard((project_id, ref))
        self.transient.discard((project_id, ref))

    def batch(self, session: Session) -> SymbolSetBatch:
        return SymbolSetBatch(self, session)


class SymbolSetBatch:
    """`faultline.pipeline.seams.SymbolBatch` over symbol sets: one digest batch (or repair chunk), one thread."""

    def __init__(self, resolver: SymbolSetResolver, session: Session) -> None:
        self.resolver = resolver
        self.settings = resolver.settings
        self.session = session
        self.rows = BatchRows(session, resolver.rows)

    def resolve(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None:
        platform = frame.get("platform")
        if platform in JS_PLATFORMS:
            return [self._web(project_id, frame)]
        if platform == "node:javascript":
            return [self._node(project_id, frame)]
        if platform == "hermes":
            return [self._hermes(project_id, frame)]
        if platform == "java":
            return self._java(project_id, frame)
        return None

    def apply(self, session: Session) -> AppliedSymbols:
        return self.rows.apply(session)

    def finish(self, committed: bool) -> None:
        for key in self.rows.finish(committed):
            self.resolver.parsed.discard((key, Kind.SOURCEMAP))
            try:
                self.resolver.storage.delete(key)
            except StorageError as exc:
                log.warning("could not delete the unused fetched symbol blob %s: %s", key, exc)

    def _idle(self) -> None:
        """End the read transaction before waiting on storage or the network: no snapshot, no pooled connection
        is held across a fetch that may take seconds. The next read starts a fresh one."""
        if self.session.in_transaction():
            self.session.commit()

    # Platforms ----------------------------------------------------------------------------------------------------

    def _web(self, project_id: int, frame: Mapping[str, Any]) -> FrameResolution:
        location = frames.js_location(frame)
        if location is None:
            return FrameResolution(contents=frames.js_unminified(frame))
        chunk_id = frames.chunk_id_of(frame)
        url = frames.clean_script_url(frames.as_str(frame.get("filename")))
        if not chunk_id and not url:
            return FrameResolution(contents=frames.js_failed(frame, frames.NO_URL_OR_CHUNK_ID))
        try:
            loaded = self._load_web(project_id, chunk_id, url)
        except LookupFailed as failed:
            return self._failed(frames.js_failed(frame, failed.message), failed.row)
        token, context = loaded.parsed.value.lookup(location[0], location[1])
        if token is None:
            return self._failed(frames.js_failed(frame, frames.js_token_not_found(frame)), loaded.row)
        return self._resolved(frames.js_resolved(frame, token), context, loaded.row)

    def _node(self, project_id: int, frame: Mapping[str, Any]) -> FrameResolution:
        chunk_id = frames.chunk_id_of(frame)
        location = frames.js_location(frame)
        if not chunk_id or location is None:
            contents, context = frames.node_direct(frame)
            return FrameResolution(contents=contents, context=context)
        try:
            loaded = self._load_ref(project_id, chunk_id, Kind.SOURCEMAP)
        except LookupFailed as failed:
            contents, context = frames.node_failed(frame, failed.message)
            return self._failed(contents, failed.row, context)
        token, context = loaded.parsed.value.lookup(location[0], location[1])
        if token is None:
            contents, context = frames.node_failed(frame, frames.js_token_not_found(frame))
            return self._failed(contents, loaded.row, context)
        return self._resolved(frames.js_resolved(frame, token), context, loaded.row)

    def _hermes(self, project_id: int, frame: Mapping[str, Any]) -> FrameResolution:
        chunk_id = frames.chunk_id_of(frame)
        if not chunk_id:
            return FrameResolution(contents=frames.hermes_failed(frame, frames.NO_CHUNK_ID))
        column = frames.as_int(frame.get("colno"))
        try:
            loaded = self._load_ref(project_id, chunk_id, Kind.HERMES)
        except LookupFailed as failed:
            return self._failed(frames.hermes_failed(frame, failed.message), failed.row)
        token = loaded.parsed.value.lookup(column) if column is not None else None
        if token is None:
            message = f"No token for column {frame.get('colno')} on chunk {chunk_id}"
            return self._failed(frames.hermes_failed(frame, message), loaded.row)
        lines = loaded.parsed.value.source_lines(token.source_index)
        context = frames.context_from_lines(lines, token.line) if lines else None
        return self._resolved(frames.hermes_resolved(frame, token), context, loaded.row)

    def _java(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution]:
        map_id = frames.as_str(frame.get("map_id"))
        module = frames.as_str(frame.get("module"))
        if not map_id:
            return [FrameResolution(contents=frames.java_failed(frame, frames.NO_MAP_ID))]
        if not module:
            return [FrameResolution(contents=frames.java_failed(frame, frames.NO_MODULE))]
        try:
            loaded = self._load_ref(project_id, map_id, Kind.PROGUARD)
        except LookupFailed as failed:
            return [self._failed(frames.java_failed(frame, failed.message), failed.row)]
        function = frames.as_str(frame.get("function")) or ""
        line = frames.as_int(frame.get("lineno")) or 0
        remapped = loaded.parsed.value.remap_frame(module, function, line)
        if not remapped:
            failure = "No original frames could be derived from this raw frame"
            return [self._failed(frames.java_failed(frame, failure), loaded.row)]
        # ProGuard lists an inlined chain innermost first; stacks here run caller → callee, so reverse it.
        return [self._resolved(frames.java_resolved(frame, r), None, loaded.row) for r in reversed(remapped)]

    # Results ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _resolved(contents: dict[str, Any], context: dict[str, Any] | None, row: Row) -> FrameResolution:
        return FrameResolution(contents=contents, context=context, symbol_set_id=row.id, release=row.release)

    @staticmethod
    def _failed(contents: dict[str, Any], row: Row | None, context: dict[str, Any] | None = None) -> FrameResolution:
        if row is None:
            return FrameResolution(contents=contents, context=context)
        return FrameResolution(contents=contents, context=context, symbol_set_id=row.id, release=row.release)

    # Loading symbols ----------------------------------------------------------------------------------------------

    def _load_ref(self, project_id: int, ref: str, kind: Kind) -> Loaded:
        """Symbols for an uploaded ref (chunk id / map id); a missing row becomes a negative row."""
        ref = truncate_ref(ref)
        row = self.rows.get(project_id, ref)
        if row is None:
            message = no_upload_message(ref, kind)
            row = self.rows.plan(project_id, ref, storage_ptr=None, content_hash=None, failure_reason=message)
        return self._load_row(project_id, row, kind)

    def _load_row(self, project_id: int, row: Row, kind: Kind) -> Loaded:
        if row.storage_ptr is None:
            raise LookupFailed(row.failure_reason or no_upload_message(row.ref, kind), row)
        if row.content_hash is None:
            # bulk_start_upload created the row but the upload has not been confirmed yet.
            raise LookupFailed(f"{no_upload_message(row.ref, kind)} (upload not finished)", row)
        cache_key = (row.storage_ptr, kind)
        parsed = self.resolver.parsed.get(cache_key)
        if parsed is None:
            parsed = self._parse_blob(row, kind)
        if isinstance(parsed, str):
            raise LookupFailed(parsed, row)
        return Loaded(parsed=parsed, row=self.rows.touch(project_id, row))

    def _parse_blob(self, row: Row, kind: Kind) -> Parsed | str:
        assert row.storage_ptr is not None
        cache_key = (row.storage_ptr, kind)
        transient = self.resolver.transient.get(cache_key)
        if transient is not None:
            return transient
        self._idle()
        try:
            blob = self.resolver.storage.get(row.storage_ptr)
        except StorageError as exc:
            log.warning("symbol storage unavailable for %s: %s", row.ref, exc)
            message = f"Symbol storage is unavailable: {exc}"
            self.resolver.transient.put(cache_key, message, ttl=10.0)
            return message
        if blob is None:
            message = f"The uploaded file for symbol set {row.ref} is missing from storage; upload it again"
            self.resolver.transient.put(cache_key, message)
            return message
        try:
            parsed: Parsed | str = parse(blob, kind)
            size = parsed.size  # type: ignore[union-attr]
        except Unusable as exc:
            parsed, size = str(exc), 256
            self.rows.record_failure(row, parsed)
        self.resolver.parsed.put(cache_key, parsed, size)
        return parsed

    # Browser scripts: uploaded by chunk id, else fetched by URL ---------------------------------------------------

    def _load_web(self, project_id: int, chunk_id: str | None, url: str | None) -> Loaded:
        if chunk_id:
            row = self.rows.get(project_id, truncate_ref(chunk_id))
            if row is not None or url is None or not self.settings.sourcemap_fetch:
                return self._load_ref(project_id, chunk_id, Kind.SOURCEMAP)
        assert url is not None
        ref = truncate_ref(chunk_id or url)
        row = self.rows.get(project_id, ref)
        if row is not None:
            return self._load_row(project_id, row, Kind.SOURCEMAP)
        if not self.settings.sourcemap_fetch:
            raise LookupFailed(
                f"{frames.FETCH_DISABLED_PREFIX} (FAULTLINE_SOURCEMAP_FETCH=false) and no symbol set was "
                f"uploaded for {url}"
            )
        return self._fetch_web(project_id, url, ref, chunk_id)

    def _fetch_web(self, project_id: int, url: str, ref: str, chunk_id: str | None) -> Loaded:
        def explain(exc: Exception) -> str:
            if chunk_id:
                return f"{no_upload_message(ref, Kind.SOURCEMAP)}; fetching the script failed: {exc}"
            return str(exc)

        def negative(reason: str) -> Row:
            return self.rows.plan(project_id, ref, storage_ptr=None, content_hash=None, failure_reason=reason)

        transient = self.resolver.transient.get((project_id, ref))
        if transient is not None:
            raise LookupFailed(transient)
        self._idle()
        try:
            found = fetch.discover(self.resolver.fetcher, url)
            if found.chunk_id and found.chunk_id != ref:
                # The script names its chunk id: an uploaded symbol set beats a public source map.
                uploaded = self.rows.get(project_id, truncate_ref(found.chunk_id))
                if uploaded is not None and uploaded.usable:
                    return self._load_row(project_id, uploaded, Kind.SOURCEMAP)
                self._idle()
            sourcemap = fetch.fetch_sourcemap(self.resolver.fetcher, found)
            blob = blobformat.write(
                blobformat.DataType.SOURCE_AND_MAP, blobformat.encode_source_and_map(found.source, sourcemap)
            )
            parsed = parse(blob, Kind.SOURCEMAP)
        except (fetch.TransientFetchError, fetch.BlockedURL) as exc:
            # The fetch error is not remembered in the database: the network may recover, or the admin may allow
            # internal addresses. A chunk id still gets its "not uploaded" row, so an upload later finds the frames.
            if chunk_id:
                raise LookupFailed(explain(exc), negative(no_upload_message(ref, Kind.SOURCEMAP))) from None
            self.resolver.transient.put((project_id, ref), explain(exc))
            raise LookupFailed(explain(exc)) from None
        except (fetch.FetchError, Unusable, blobformat.BlobFormatError) as exc:
            raise LookupFailed(explain(exc), negative(explain(exc))) from None
        key = new_key()
        try:
            self.resolver.storage.put(key, blob)
        except StorageError as exc:
            self.resolver.transient.put((project_id, ref), f"Symbol storage is unavailable: {exc}")
            raise LookupFailed(f"Symbol storage is unavailable: {exc}") from None
        row = self.rows.plan(
            project_id, ref, storage_ptr=key, content_hash=hashlib.sha512(blob).hexdigest(), failure_reason=None
        )
        self.resolver.parsed.put((key, Kind.SOURCEMAP), parsed, parsed.size)
        return Loaded(parsed=parsed, row=row)
