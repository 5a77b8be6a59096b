"""Read the artifact bundles `sentry-cli sourcemaps upload` assembles from chunks: which (minified source, source
map) pairs they hold, keyed by debug id.

An artifact bundle is a zip (symbolic's source-bundle format: the 8-byte `SYSB` + version header, then the zip) with a
`manifest.json` that describes every entry under `files/`: its `type` (`minified_source`, `source_map`, …), its `url`
(`~/app.min.js`) and `headers` (`debug-id`, `sourcemap`). Each debug id with a source map becomes one symbol set, so
an event frame carrying that debug id as its chunk id resolves exactly like a posthog-cli upload.

The zip comes from whoever holds an API key, so nothing in it is trusted: the entry count is read from the zip's end
record and refused past FAULTLINE_SENTRY_BUNDLE_MAX_FILES *before* Python builds its directory (the directory itself
is capped in bytes too, because `zipfile` reads entries until the directory's size, whatever the count says); the
declared sizes of the entries we read must fit FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES and each pair
FAULTLINE_SYMBOL_SET_MAX_BYTES before one byte is inflated, and `zipfile` stops inflating at the declared size (a
lying entry then fails its CRC); names that could escape a directory (`..`, absolute, backslashes, NUL) are refused
although nothing is ever written to disk, because such a bundle did not come from sentry-cli.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from posixpath import dirname, join, normpath
from typing import Any

import orjson

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
# Average bytes of central-directory record allowed per entry (46 fixed + name + extra): generous for sentry-cli's
# `files/_/_/assets/app.min.js`, and what keeps `zipfile` from building a directory of millions of entries.
_DIRECTORY_BYTES_PER_ENTRY = 1024
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_UNSAFE_NAME = re.compile(r"(^/)|(^[A-Za-z]:)|\\|\x00|(^|/)\.\.(/|$)")


class BundleError(ValueError):
    """The bundle cannot be used; the message is shown to the uploader (`code` is the API error code)."""

    def __init__(self, message: str, code: str = "invalid_bundle") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_uncompressed_bytes: int
    max_set_bytes: int


@dataclass(frozen=True)
class SourcePair:
    debug_id: str
    source: bytes  # empty when the bundle has only the map (names of enclosing functions are then unknown)
    sourcemap: bytes
    url: str


def normalize_debug_id(raw: Any) -> str | None:
    """Lower-case UUID with dashes (what SDKs send in `debug_meta.images[].debug_id`), or None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if len(text) > 64:
        return None
    try:
        return str(uuid.UUID(text[:36] if len(text) > 36 and text[36] == "-" else text))
    except ValueError:
        return None


def _entry_count(data: bytes, max_files: int) -> None:
    """Refuse from the end-of-central-directory record alone: too many entries, or a directory too big for them."""
    end = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if end < 0 or len(data) - end < 22:
        raise BundleError("The artifact bundle is not a zip file (no end-of-directory record).")
    count, directory_size = struct.unpack_from("<HI", data, end + 10)
    if count == 0xFFFF or directory_size == 0xFFFFFFFF:
        locator = end - 20
        if locator < 0 or data[locator : locator + 4] != _ZIP64_LOCATOR:
            raise BundleError("The artifact bundle's zip directory is damaged.")
        (record,) = struct.unpack_from("<Q", data, locator + 8)
        if record + 56 > len(data):
            # Offsets are relative to the zip, which may follow a header: look for the record just before.
            record = data.rfind(b"PK\x06\x06", 0, locator)
            if record < 0:
                raise BundleError("The artifact bundle's zip directory is damaged.")
        count, directory_size = struct.unpack_from("<QQ", data, record + 32)
    if count > max_files:
        raise BundleError(
            f"The artifact bundle has {count} entries; at most {max_files} are accepted "
            "(FAULTLINE_SENTRY_BUNDLE_MAX_FILES).",
            code="too_many_files",
        )
    if directory_size > (max_files + 1) * _DIRECTORY_BYTES_PER_ENTRY:
        raise BundleError("The artifact bundle's zip directory is larger than its entries can need.")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """`zipfile` inflates at most the declared size and checks the CRC, so a lying entry fails here."""
    with archive.open(info) as handle:
        return handle.read(info.file_size + 1)


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise BundleError("The artifact bundle has no manifest.json.") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"The artifact bundle's manifest is larger than {MAX_MANIFEST_BYTES} bytes.")
    try:
        document = orjson.loads(_read(archive, info))
    except orjson.JSONDecodeError:
        raise BundleError("The artifact bundle's manifest.json is not valid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("files", {}), dict):
        raise BundleError('The artifact bundle\'s manifest.json has no "files" object.')
    return document


def _header(entry: dict[str, Any], name: str) -> str | None:
    headers = entry.get("headers")
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def _url(entry: dict[str, Any]) -> str:
    url = entry.get("url")
    return url if isinstance(url, str) else ""


def _resolve(url: str, reference: str) -> str:
    """The URL a `sourcemap` header (relative to its script, as in `//# sourceMappingURL=`) points to."""
    if "://" in reference or reference.startswith("~/"):
        return reference
    return normpath(join(dirname(url), reference)) if url else reference


def read_pairs(data: bytes, limits: Limits) -> list[SourcePair]:
    """Every debug id of the bundle that has a source map, with its minified source when the bundle has it."""
    _entry_count(data, limits.max_files)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        raise BundleError(f"The artifact bundle is not a readable zip file: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_files:
            raise BundleError(
                f"The artifact bundle has more than {limits.max_files} entries (FAULTLINE_SENTRY_BUNDLE_MAX_FILES).",
                code="too_many_files",
            )
        for info in infos:
            if _UNSAFE_NAME.search(info.filename):
                raise BundleError(f"The artifact bundle has an unsafe entry name: {info.filename[:200]!r}")
            if info.flag_bits & 0x1:
                raise BundleError("The artifact bundle has encrypted entries.")
        entries = {info.filename: info for info in infos}
        manifest = _manifest(archive)
        by_debug_id: dict[str, dict[str, tuple[str, zipfile.ZipInfo]]] = {}
        maps_by_url: dict[str, tuple[str, zipfile.ZipInfo]] = {}
        for path, entry in manifest.get("files", {}).items():
            if not isinstance(entry, dict) or not isinstance(path, str):
                continue
            kind = entry.get("type")
            if kind not in ("minified_source", "source_map"):
                continue
            listed = entries.get(path)
            if listed is None:
                raise BundleError(f"manifest.json lists {path[:200]!r}, which is not in the bundle.")
            url = _url(entry)
            debug_id = normalize_debug_id(_header(entry, "debug-id"))
            if kind == "source_map":
                maps_by_url[url] = (url, listed)
            if debug_id is not None:
                by_debug_id.setdefault(debug_id, {})[kind] = (url, listed)
        # A minified source without a debug-id on its map finds the map through its `sourcemap` header.
        for entry in manifest.get("files", {}).values():
            if not isinstance(entry, dict) or entry.get("type") != "minified_source":
                continue
            debug_id = normalize_debug_id(_header(entry, "debug-id"))
            reference = _header(entry, "sourcemap")
            if debug_id is None or reference is None or "source_map" in by_debug_id.get(debug_id, {}):
                continue
            found = maps_by_url.get(_resolve(_url(entry), reference))
            if found is not None:
                by_debug_id[debug_id]["source_map"] = found
        chosen = {debug_id: kinds for debug_id, kinds in by_debug_id.items() if "source_map" in kinds}
        total = 0
        for kinds in chosen.values():
            pair_size = sum(info.file_size for _, info in kinds.values())
            if pair_size > limits.max_set_bytes:
                raise BundleError(
                    f"A source and its map take {pair_size} bytes; a symbol set holds at most {limits.max_set_bytes} "
                    "(FAULTLINE_SYMBOL_SET_MAX_BYTES).",
                    code="file_too_large",
                )
            total += pair_size
        if total > limits.max_uncompressed_bytes:
            raise BundleError(
                f"The artifact bundle inflates to {total} bytes; at most {limits.max_uncompressed_bytes} are accepted "
                "(FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES).",
                code="file_too_large",
            )
        pairs = []
        try:
            for debug_id, kinds in sorted(chosen.items()):
                map_url, map_info = kinds["source_map"]
                source_url, source = kinds.get("minified_source", ("", None))
                pairs.append(
                    SourcePair(
                        debug_id=debug_id,
                        source=_read(archive, source) if source is not None else b"",
                        sourcemap=_read(archive, map_info),
                        url=source_url or map_url,
                    )
                )
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
            raise BundleError(f"An entry of the artifact bundle cannot be read: {exc}") from None
    return pairs
