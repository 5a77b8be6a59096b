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

Fetching sits on the digest's critical path, so what one event can cost it is bounded: each script + source map
has a hard deadline (FAULTLINE_SOURCEMAP_DEADLINE), the batch as a whole a fetch budget
(FAULTLINE_SOURCEMAP_BATCH_BUDGET; frames past it stay unresolved and nothing is remembered, so a later event
fetches them), and a URL that failed transiently — or a host that timed out — is not tried again for
FAULTLINE_SOURCEMAP_NEGATIVE_TTL. Symbol-set contents are capped when loaded (FAULTLINE_SYMBOL_SET_MAX_BYTES) and
the parsed-set cache keeps to its budget; a set too big for it lives only as long as the batch using it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from faultline.config import Settings
from faultline.platforms import hermes, java, javascript, node
from faultline.platforms._common import (
    FETCH_DISABLED_PREFIX,
    NO_CHUNK_ID,
    NO_MAP_ID,
    NO_MODULE,
    NO_URL_OR_CHUNK_ID,
    as_int,
    as_str,
    chunk_id_of,
    context_from_lines,
)
from faultline.platforms._common import no_upload_message as _no_upload
from faultline.protocol import Frame, FrameContext
from faultline.protocol.seams import AppliedSymbols, FrameResolution
from faultline.symbols import blobformat, fetch
from faultline.symbols.batchrows import BatchRows, Row
from faultline.symbols.cache import ByteBudgetLRU, TTLCache
from faultline.symbols.parsed import Kind, Parsed, Unusable, parse
from faultline.symbols.storage import BlobStorage, BlobTooLarge, StorageError, new_key

log = logging.getLogger(__name__)

MAX_REF_BYTES = 2048
ROW_TTL_SECONDS = 5.0
# How long a missing blob or unreachable storage is remembered (fetch failures: FAULTLINE_SOURCEMAP_NEGATIVE_TTL).
TRANSIENT_FAILURE_TTL_SECONDS = 60.0

JS_PLATFORMS = ("web:javascript", "javascript")


def truncate_ref(ref: str) -> str:
    """Refs are capped at 2048 bytes, cut on a UTF-8 character boundary."""
    encoded = ref.encode("utf-8")
    if len(encoded) <= MAX_REF_BYTES:
        return ref
    return encoded[:MAX_REF_BYTES].decode("utf-8", errors="ignore")


def no_upload_message(ref: str, kind: Kind) -> str:
    return _no_upload(ref, proguard=kind is Kind.PROGUARD)


@dataclass
class Loaded:
    parsed: Parsed
    row: Row


class LookupFailed(Exception):
    def __init__(self, message: str, row: Row | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


def _answer(frame: Frame, context: FrameContext | None = None, row: Row | None = None) -> FrameResolution:
    """The seam's JSON answer for a frame the platform built; `row` links it to the symbol set used (or the
    negative row that explains the failure)."""
    resolution = FrameResolution(contents=frame.seam_json(), context=context.as_json() if context else None)
    if row is not None:
        resolution.symbol_set_id, resolution.release = row.id, row.release
    return resolution


class SymbolSetResolver:
    """Implements `faultline.protocol.seams.SymbolResolver`. One instance per process; thread-safe."""

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
                idle_timeout=self.settings.sourcemap_timeout,
                deadline=self.settings.sourcemap_deadline,
                negative_ttl=self.settings.sourcemap_negative_ttl,
            )
            self._fetcher = fetch.Fetcher(policy)
        return self._fetcher

    def remember_fetch_failure(self, project_id: int, ref: str, message: str) -> None:
        if self.settings.sourcemap_negative_ttl > 0:
            self.transient.put((project_id, ref), message, ttl=self.settings.sourcemap_negative_ttl)

    def invalidate(self, project_id: int, ref: str) -> None:
        """Forget what this process knows about a ref (called when it is uploaded, re-uploaded or deleted)."""
        self.rows.discard((project_id, ref))
        self.transient.discard((project_id, ref))

    def batch(self, session: Session) -> SymbolSetBatch:
        return SymbolSetBatch(self, session)


class SymbolSetBatch:
    """`faultline.protocol.seams.SymbolBatch` over symbol sets: one digest batch (or repair chunk), one thread."""

    def __init__(self, resolver: SymbolSetResolver, session: Session) -> None:
        self.resolver = resolver
        self.settings = resolver.settings
        self.session = session
        self.rows = BatchRows(session, resolver.rows)
        self.fetch_seconds = 0.0  # spent fetching so far, against FAULTLINE_SOURCEMAP_BATCH_BUDGET
        # The last parsed set too big for the shared cache: kept for this batch only, so its frames parse it once.
        self._uncached: tuple[tuple[str, Kind], Parsed | str] | None = None

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
        self._uncached = None
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
        location = javascript.location(frame)
        if location is None:
            return _answer(javascript.unminified(frame))
        chunk_id = chunk_id_of(frame)
        url = javascript.clean_script_url(as_str(frame.get("filename")))
        if not chunk_id and not url:
            return _answer(javascript.failed(frame, NO_URL_OR_CHUNK_ID))
        try:
            loaded = self._load_web(project_id, chunk_id, url)
        except LookupFailed as failed:
            return _answer(javascript.failed(frame, failed.message), None, failed.row)
        token, context = loaded.parsed.value.lookup(location[0], location[1])
        if token is None:
            return _answer(javascript.failed(frame, javascript.token_not_found(frame)), None, loaded.row)
        return _answer(javascript.resolved(frame, token), context, loaded.row)

    def _node(self, project_id: int, frame: Mapping[str, Any]) -> FrameResolution:
        chunk_id = chunk_id_of(frame)
        location = javascript.location(frame)
        if not chunk_id or location is None:
            return _answer(*node.direct(frame))
        try:
            loaded = self._load_ref(project_id, chunk_id, Kind.SOURCEMAP)
        except LookupFailed as failed:
            return _answer(*node.failed(frame, failed.message), failed.row)
        token, context = loaded.parsed.value.lookup(location[0], location[1])
        if token is None:
            return _answer(*node.failed(frame, javascript.token_not_found(frame)), loaded.row)
        return _answer(javascript.resolved(frame, token), context, loaded.row)

    def _hermes(self, project_id: int, frame: Mapping[str, Any]) -> FrameResolution:
        chunk_id = chunk_id_of(frame)
        if not chunk_id:
            return _answer(hermes.failed(frame, NO_CHUNK_ID))
        column = as_int(frame.get("colno"))
        try:
            loaded = self._load_ref(project_id, chunk_id, Kind.HERMES)
        except LookupFailed as failed:
            return _answer(hermes.failed(frame, failed.message), None, failed.row)
        token = loaded.parsed.value.lookup(column) if column is not None else None
        if token is None:
            message = f"No token for column {frame.get('colno')} on chunk {chunk_id}"
            return _answer(hermes.failed(frame, message), None, loaded.row)
        lines = loaded.parsed.value.source_lines(token.source_index)
        context = context_from_lines(lines, token.line) if lines else None
        return _answer(hermes.resolved(frame, token), context, loaded.row)

    def _java(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution]:
        map_id = as_str(frame.get("map_id"))
        module = as_str(frame.get("module"))
        if not map_id:
            return [_answer(java.failed(frame, NO_MAP_ID))]
        if not module:
            return [_answer(java.failed(frame, NO_MODULE))]
        try:
            loaded = self._load_ref(project_id, map_id, Kind.PROGUARD)
        except LookupFailed as failed:
            return [_answer(java.failed(frame, failed.message), None, failed.row)]
        function = as_str(frame.get("function")) or ""
        line = as_int(frame.get("lineno")) or 0
        remapped = loaded.parsed.value.remap_frame(module, function, line)
        if not remapped:
            failure = "No original frames could be derived from this raw frame"
            return [_answer(java.failed(frame, failure), None, loaded.row)]
        # ProGuard lists an inlined chain innermost first; stacks here run caller → callee, so reverse it.
        return [_answer(java.resolved(frame, r), None, loaded.row) for r in reversed(remapped)]

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
        if parsed is None and self._uncached is not None and self._uncached[0] == cache_key:
            parsed = self._uncached[1]
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
        limit = self.settings.symbol_set_max_bytes
        try:
            blob = self.resolver.storage.get(row.storage_ptr, max_bytes=blobformat.stored_size_bound(limit))
        except BlobTooLarge as exc:
            message = f"{blobformat.ContentsTooLarge(limit)} ({exc})"
            self.rows.record_failure(row, message)
            self._cache(cache_key, message, 256)
            return message
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
            parsed: Parsed | str = parse(blob, kind, max_bytes=limit)
            size = parsed.size  # type: ignore[union-attr]
        except Unusable as exc:
            parsed, size = str(exc), 256
            self.rows.record_failure(row, parsed)
        self._cache(cache_key, parsed, size)
        return parsed

    def _cache(self, key: tuple[str, Kind], parsed: Parsed | str, size: int) -> None:
        if not self.resolver.parsed.put(key, parsed, size):
            self._uncached = (key, parsed)

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
                f"{FETCH_DISABLED_PREFIX} (FAULTLINE_SOURCEMAP_FETCH=false) and no symbol set was uploaded for {url}"
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
        budget = self.settings.sourcemap_batch_budget
        started = time.monotonic()
        try:
            if self.fetch_seconds >= budget:
                raise fetch.BudgetSpent(
                    f"Not fetched: this batch already spent its {budget:g} s fetch budget "
                    f"(FAULTLINE_SOURCEMAP_BATCH_BUDGET) on other scripts; a later event fetches {url}"
                )
            deadline = fetch.Deadline.within(self.settings.sourcemap_deadline, budget_left=budget - self.fetch_seconds)
            self._idle()
            found = fetch.discover(self.resolver.fetcher, url, deadline)
            if found.chunk_id and found.chunk_id != ref:
                # The script names its chunk id: an uploaded symbol set beats a public source map.
                uploaded = self.rows.get(project_id, truncate_ref(found.chunk_id))
                if uploaded is not None and uploaded.usable:
                    return self._load_row(project_id, uploaded, Kind.SOURCEMAP)
                self._idle()
            sourcemap = fetch.fetch_sourcemap(self.resolver.fetcher, found, deadline)
            payload = blobformat.encode_source_and_map(found.source, sourcemap)
            if len(payload) > self.settings.symbol_set_max_bytes:
                raise blobformat.ContentsTooLarge(self.settings.symbol_set_max_bytes)
            blob = blobformat.write(blobformat.DataType.SOURCE_AND_MAP, payload)
            parsed = parse(blob, Kind.SOURCEMAP, max_bytes=self.settings.symbol_set_max_bytes)
        except (fetch.TransientFetchError, fetch.BlockedURL) as exc:
            # The fetch error is not remembered in the database: the network may recover, or the admin may allow
            # internal addresses. A chunk id still gets its "not uploaded" row, so an upload later finds the frames.
            if chunk_id:
                raise LookupFailed(explain(exc), negative(no_upload_message(ref, Kind.SOURCEMAP))) from None
            if not isinstance(exc, fetch.Inconclusive):  # e.g. the budget ran out: nothing learned about the URL
                self.resolver.remember_fetch_failure(project_id, ref, explain(exc))
            raise LookupFailed(explain(exc)) from None
        except (fetch.FetchError, Unusable, blobformat.BlobFormatError) as exc:
            raise LookupFailed(explain(exc), negative(explain(exc))) from None
        finally:
            self.fetch_seconds += time.monotonic() - started
        key = new_key()
        try:
            self.resolver.storage.put(key, blob)
        except StorageError as exc:
            self.resolver.transient.put((project_id, ref), f"Symbol storage is unavailable: {exc}")
            raise LookupFailed(f"Symbol storage is unavailable: {exc}") from None
        row = self.rows.plan(
            project_id, ref, storage_ptr=key, content_hash=hashlib.sha512(blob).hexdigest(), failure_reason=None
        )
        self._cache((key, Kind.SOURCEMAP), parsed, parsed.size)
        return Loaded(parsed=parsed, row=row)
