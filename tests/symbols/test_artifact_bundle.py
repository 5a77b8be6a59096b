"""Artifact-bundle parsing (`faultline.symbols.artifact_bundle`): pairing by debug id, and every limit at its edge."""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
import zlib

import orjson
import pytest

from faultline.symbols.artifact_bundle import BundleError, Limits, normalize_debug_id, read_pairs

LIMITS = Limits(max_files=10, max_uncompressed_bytes=10_000, max_set_bytes=5_000)
DEBUG_ID = "4dc56f1a-6007-5392-b5db-66ae71526550"
SOURCE = b"function a(){throw new Error('x')}\n//# debugId=" + DEBUG_ID.encode()
SOURCEMAP = orjson.dumps({"version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA", "debugId": DEBUG_ID})


def bundle(
    files: dict[str, tuple[dict, bytes]], *, header: bool = True, extra: dict[str, bytes] | None = None
) -> bytes:
    """A bundle as sentry-cli writes it: `SYSB` + version, then the zip with manifest.json and files/…."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", orjson.dumps({"files": {p: meta for p, (meta, _) in files.items()}}))
        for path, (_, data) in files.items():
            archive.writestr(path, data)
        for path, data in (extra or {}).items():
            archive.writestr(path, data)
    return (b"SYSB" + struct.pack("<I", 2) if header else b"") + out.getvalue()


def pair_files(debug_id: str = DEBUG_ID, *, map_debug_id: bool = True) -> dict[str, tuple[dict, bytes]]:
    map_headers = {"debug-id": debug_id} if map_debug_id else {}
    return {
        "files/_/_/app.min.js": (
            {
                "type": "minified_source",
                "url": "~/static/app.min.js",
                "headers": {"debug-id": debug_id.upper(), "Sourcemap": "app.min.js.map"},
            },
            SOURCE,
        ),
        "files/_/_/app.min.js.map": (
            {"type": "source_map", "url": "~/static/app.min.js.map", "headers": map_headers},
            SOURCEMAP,
        ),
    }


def test_pairs_by_debug_id_normalised() -> None:
    pairs = read_pairs(bundle(pair_files()), LIMITS)
    assert [(p.debug_id, p.source, p.sourcemap, p.url) for p in pairs] == [
        (DEBUG_ID, SOURCE, SOURCEMAP, "~/static/app.min.js")
    ]
    assert read_pairs(bundle(pair_files(), header=False), LIMITS) == pairs


def test_map_without_debug_id_found_through_the_sourcemap_header() -> None:
    pairs = read_pairs(bundle(pair_files(map_debug_id=False)), LIMITS)
    assert [(p.debug_id, p.sourcemap) for p in pairs] == [(DEBUG_ID, SOURCEMAP)]


def test_source_without_any_map_gives_nothing() -> None:
    files = {k: v for k, v in pair_files().items() if k.endswith(".js")}
    assert read_pairs(bundle(files), LIMITS) == []


def test_normalize_debug_id() -> None:
    assert normalize_debug_id(DEBUG_ID.upper()) == DEBUG_ID
    assert normalize_debug_id(DEBUG_ID.replace("-", "")) == DEBUG_ID
    assert normalize_debug_id(f"{DEBUG_ID}-1a") == DEBUG_ID  # native appendix
    assert normalize_debug_id("nope") is None
    assert normalize_debug_id(12) is None


def test_entry_count_at_the_edge() -> None:
    filler = {f"files/_/_/{i}.txt": b"x" for i in range(LIMITS.max_files - 3)}  # + manifest + 2 pair files
    assert read_pairs(bundle(pair_files(), extra=filler), LIMITS)
    filler["files/_/_/one-more.txt"] = b"x"
    with pytest.raises(BundleError) as refused:
        read_pairs(bundle(pair_files(), extra=filler), LIMITS)
    assert refused.value.code == "too_many_files"


def test_inflated_size_at_the_edge() -> None:
    def padded(total_pair_bytes: int) -> bytes:
        files = pair_files()
        path, (meta, source) = "files/_/_/app.min.js", files["files/_/_/app.min.js"]
        files[path] = (meta, source + b" " * (total_pair_bytes - len(source) - len(SOURCEMAP)))
        return bundle(files)

    limits = Limits(max_files=10, max_uncompressed_bytes=4_000, max_set_bytes=4_000)
    assert read_pairs(padded(4_000), limits)
    with pytest.raises(BundleError) as refused:
        read_pairs(padded(4_001), limits)
    assert refused.value.code == "file_too_large"
    total_limits = Limits(max_files=10, max_uncompressed_bytes=3_999, max_set_bytes=5_000)
    with pytest.raises(BundleError, match="FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES"):
        read_pairs(padded(4_000), total_limits)


@pytest.mark.parametrize("name", ["../evil.js", "files/../../evil.js", "/etc/passwd", "files\\..\\evil.js", "C:x.js"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(BundleError, match="unsafe entry name"):
        read_pairs(bundle(pair_files(), extra={name: b"x"}), LIMITS)


def test_not_a_zip_and_missing_manifest() -> None:
    with pytest.raises(BundleError, match="not a zip"):
        read_pairs(b"SYSB\x02\x00\x00\x00garbage" * 10, LIMITS)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("files/a.js", b"x")
    with pytest.raises(BundleError, match="no manifest"):
        read_pairs(out.getvalue(), LIMITS)


def test_manifest_naming_a_missing_entry() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        entry = {"type": "source_map", "url": "~/gone.map", "headers": {"debug-id": DEBUG_ID}}
        archive.writestr("manifest.json", orjson.dumps({"files": {"files/_/_/gone.map": entry}}))
    with pytest.raises(BundleError, match="not in the bundle"):
        read_pairs(out.getvalue(), LIMITS)


def test_an_entry_that_lies_about_its_size_is_inflated_only_to_that_size() -> None:
    """The headers say 10 bytes; the deflate stream holds 4 000 000 zeros: zipfile stops at 10 (and a CRC that does
    not match those 10 bytes fails the bundle)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = deflater.compress(b"\0" * 4_000_000) + deflater.flush()
    manifest = {
        "files": {
            "files/_/_/bomb.map": {"type": "source_map", "url": "~/b.map", "headers": {"debug-id": str(uuid.uuid4())}}
        }
    }
    assert len(bomb) < 10_000
    data = _zip_with_raw(manifest, "files/_/_/bomb.map", bomb, declared_size=10, crc=zlib.crc32(b"\0" * 10))
    assert [p.sourcemap for p in read_pairs(data, LIMITS)] == [b"\0" * 10]
    data = _zip_with_raw(manifest, "files/_/_/bomb.map", bomb, declared_size=10, crc=zlib.crc32(b"\0" * 4_000_000))
    with pytest.raises(BundleError, match="cannot be read"):
        read_pairs(data, LIMITS)


def _zip_with_raw(manifest: dict, name: str, deflated: bytes, *, declared_size: int, crc: int) -> bytes:
    raw_manifest = orjson.dumps(manifest)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = packer.compress(raw_manifest) + packer.flush()
    entries = [("manifest.json", packed, len(raw_manifest), zlib.crc32(raw_manifest))]
    entries.append((name, deflated, declared_size, crc))
    body, directory = bytearray(), bytearray()
    for entry_name, payload, size, entry_crc in entries:
        encoded = entry_name.encode()
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, entry_crc, len(payload), size, len(encoded), 0)
        body += encoded + payload
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            entry_crc,
            len(payload),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    return bytes(body + directory + end)


def test_entry_count_is_checked_before_the_directory_is_read() -> None:
    """An end record claiming 70 000 entries is refused from its 22 bytes."""
    data = bytearray(bundle(pair_files(), header=False))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 0xFFFE, 0xFFFE)
    with pytest.raises(BundleError) as refused:
        read_pairs(bytes(data), LIMITS)
    assert refused.value.code == "too_many_files"
