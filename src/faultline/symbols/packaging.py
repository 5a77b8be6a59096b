"""Turn what a person has at hand — a built script and its source map, or a posthog-cli symbol-set file — into the
symbol-data container the resolver reads, with a chunk id, before `symbols.service.create_from_file` stores it.
Which chunk id a set gets and which files make a usable set is the symbols domain's rule; the web UI's upload form
only hands the files over.

posthog-cli users upload from CI; the upload page is for the "my stack traces are still minified, let me fix that
now" moment. The script is optional but recommended: without it, source maps lose the enclosing function names.
The chunk id is taken from the form, else from the script's `//# chunkId=` comment or the map's `chunk_id` field
(both written by `posthog-cli sourcemap inject`), so the ids always agree with what the SDK sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from symbolic import SourceMapCache, SymbolicError

from faultline.errors import ValidationFailed
from faultline.symbols import blobformat
from faultline.symbols.fetch import chunk_id_from_source


class UploadProblem(ValidationFailed, ValueError):
    """Files that do not make a usable symbol set; `field` (= `attr`) names the file or field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Prepared:
    chunk_id: str
    blob: bytes
    description: str


def _map_chunk_id(sourcemap: bytes) -> str | None:
    try:
        document = orjson.loads(sourcemap)
    except orjson.JSONDecodeError:
        raise UploadProblem("sourcemap", "The source map is not valid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("mappings"), str):
        raise UploadProblem("sourcemap", 'This is not a source map (no "mappings").')
    value = document.get("chunk_id")
    return value if isinstance(value, str) and value else None


def prepare(
    chunk_id: str,
    script: bytes | None,
    sourcemap: bytes | None,
    bundle: bytes | None,
    *,
    max_bytes: int = blobformat.MAX_DECOMPRESSED_BYTES,
) -> Prepared:
    """`max_bytes` is FAULTLINE_SYMBOL_SET_MAX_BYTES: a bundle is checked against it without being inflated."""
    chunk_id = chunk_id.strip()
    if bundle:
        if sourcemap or script:
            raise UploadProblem("bundle", "Upload either a symbol-set file or a script and its source map, not both.")
        try:
            header = blobformat.check_contents(bundle, max_bytes)
        except blobformat.BlobFormatError as exc:
            raise UploadProblem("bundle", str(exc)) from None
        if not chunk_id:
            raise UploadProblem("chunk_id", "Enter the chunk id this symbol-set file belongs to.")
        return Prepared(chunk_id, bundle, blobformat.TYPE_LABELS.get(header.type, "symbol data"))
    if not sourcemap:
        raise UploadProblem("sourcemap", "Choose the source map (.map) file, or a posthog-cli symbol-set file.")
    from_map = _map_chunk_id(sourcemap)
    from_script = chunk_id_from_source(script) if script else None
    chunk_id = chunk_id or from_script or from_map or ""
    if not chunk_id:
        raise UploadProblem(
            "chunk_id",
            "No chunk id found in the script or the map (run `posthog-cli sourcemap inject`), so enter it here.",
        )
    try:
        SourceMapCache.from_bytes(script or b"", sourcemap)
    except (SymbolicError, ValueError) as exc:
        raise UploadProblem("sourcemap", f"The source map cannot be used: {exc}") from None
    payload = blobformat.encode_source_and_map(script or b"", sourcemap)
    return Prepared(chunk_id, blobformat.write(blobformat.DataType.SOURCE_AND_MAP, payload), "source map")
