"""Symbol-set contents are capped (FAULTLINE_SYMBOL_SET_MAX_BYTES) at upload and at load, and the parsed-set cache
never holds more than FAULTLINE_SYMBOL_CACHE_MB: a 14 KB upload must not cost the worker gigabytes."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
import sqlalchemy as sa
import zstandard

from faultline.symbols import blobformat
from faultline.symbols import resolver as resolver_module
from faultline.symbols.blobformat import MAGIC, ContentsTooLarge, DataType
from faultline.symbols.cache import ByteBudgetLRU
from faultline.symbols.models import SymbolSet
from faultline.symbols.packaging import UploadProblem, prepare
from faultline.symbols.runtime import build_runtime
from tests.symbols.support import (
    CHUNK_ID,
    peak_bytes,
    resolve_batch,
    resolve_frame,
    sample_blob,
    sample_frames,
    sha512,
    store_symbol_set,
)
from tests.symbols.test_api import base, error, finish, post_file, start

MIB = 1024 * 1024
DEFAULT_CAP = 100 * MIB


def zstd_of_zeros(size: int, *, declared: bool) -> bytes:
    """`size` zero bytes as zstd: one-shot (the frame declares its size) or streamed (it does not)."""
    compressor = zstandard.ZstdCompressor(level=3)
    if declared:
        return compressor.compress(b"\0" * size)
    stream = compressor.compressobj()
    block = b"\0" * MIB
    parts = [stream.compress(block[: min(MIB, size - offset)]) for offset in range(0, size, MIB)]
    return b"".join(parts) + stream.flush()


def container(payload: bytes, *, compressed: bool = True) -> bytes:
    return MAGIC + struct.pack("<IIB", 2, int(DataType.SOURCE_AND_MAP), 1 if compressed else 0) + payload


# ---------------------------------------------------------------------------------------------------------------------
# The cap itself, at its edge


@pytest.mark.parametrize("declared", [True, False], ids=["declared-size", "streamed"])
def test_contents_at_the_cap_pass_and_one_byte_more_does_not(declared: bool) -> None:
    at_cap = container(zstd_of_zeros(4096, declared=declared))
    over = container(zstd_of_zeros(4097, declared=declared))
    assert len(blobformat.read(at_cap, max_decompressed=4096).payload) == 4096
    assert blobformat.check_contents(at_cap, 4096).type == DataType.SOURCE_AND_MAP
    assert blobformat.check_contents(io.BytesIO(at_cap), 4096).compressed
    for check in (
        lambda: blobformat.read(over, max_decompressed=4096),
        lambda: blobformat.check_contents(over, 4096),
        lambda: blobformat.check_contents(io.BytesIO(over), 4096),
    ):
        with pytest.raises(ContentsTooLarge, match="inflates past the 4096-byte limit"):
            check()
    raw = container(b"x" * 4097, compressed=False)
    with pytest.raises(ContentsTooLarge):
        blobformat.read(raw, max_decompressed=4096)
    with pytest.raises(ContentsTooLarge):
        blobformat.check_contents(io.BytesIO(raw), 4096)
    assert len(blobformat.read(raw, max_decompressed=4097).payload) == 4097


def test_checking_an_upload_keeps_nothing_it_inflates() -> None:
    bomb = container(zstd_of_zeros(64 * MIB, declared=False))
    _, peak = peak_bytes(lambda: blobformat.check_contents(io.BytesIO(bomb), DEFAULT_CAP))
    assert peak < 4 * MIB, peak


# ---------------------------------------------------------------------------------------------------------------------
# At upload: refused with PostHog's error shape and a code of its own


@pytest.mark.parametrize("declared", [True, False], ids=["declared-size", "streamed"])
def test_direct_upload_inflating_past_the_cap_is_refused(client, seed, declared: bool) -> None:
    bomb = container(zstd_of_zeros(DEFAULT_CAP + 1, declared=declared))
    assert len(bomb) < 20_000  # a tiny file
    body = error(
        client.post(f"{base(seed)}/?chunk_id=bomb", content=bomb, headers=seed.headers), 400, "decompressed_too_large"
    )
    assert "FAULTLINE_SYMBOL_SET_MAX_BYTES" in body["detail"] and str(DEFAULT_CAP) in body["detail"]
    listed = client.get(f"{base(seed)}/?ref=bomb", headers=seed.headers).json()
    assert listed["count"] == 0
    at_cap = container(zstd_of_zeros(DEFAULT_CAP, declared=declared))
    assert client.post(f"{base(seed)}/?chunk_id=fits", content=at_cap, headers=seed.headers).status_code == 201


def test_bulk_upload_inflating_past_the_cap_is_refused_and_dropped(client, seed) -> None:
    bomb = container(zstd_of_zeros(DEFAULT_CAP + 1, declared=False))
    entry = start(client, seed, [{"chunk_id": "bomb", "content_hash": sha512(bomb)}]).json()["id_map"]["bomb"]
    assert post_file(client, entry["presigned_url"], bomb).status_code == 204
    body = error(finish(client, seed, {entry["symbol_set_id"]: sha512(bomb)}), 400, "decompressed_too_large")
    assert "bomb" in body["detail"]
    assert client.get(f"{base(seed)}/{entry['symbol_set_id']}/", headers=seed.headers).status_code == 404


def test_upload_form_refuses_a_bundle_inflating_past_the_cap() -> None:
    bomb = container(zstd_of_zeros(8192, declared=False))
    with pytest.raises(UploadProblem, match="inflates past the 4096-byte limit"):
        prepare("chunk", None, None, bomb, max_bytes=4096)
    assert prepare("chunk", None, None, bomb, max_bytes=8192).chunk_id == "chunk"


# ---------------------------------------------------------------------------------------------------------------------
# At load: a blob that got into storage some other way


@pytest.mark.parametrize("declared", [True, False], ids=["declared-size", "streamed"])
def test_stored_bomb_is_refused_without_being_inflated(app, db, seed, declared: bool) -> None:
    runtime = build_runtime(app.state.settings.replace(symbol_set_max_bytes=MIB))
    bomb = container(zstd_of_zeros(64 * MIB, declared=declared))
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, bomb)
    [result], peak = peak_bytes(lambda: resolve_frame(db, runtime.resolver, seed.project.id, sample_frames()[-1]))
    failure = result.contents["resolve_failure"]
    assert "inflates past the 1048576-byte limit" in failure
    assert peak < 4 * MIB, f"peak of {peak / MIB:.1f} MiB loading a 64 MiB bomb"
    with db.read() as session:
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.project_id == seed.project.id))
    assert row.failure_reason == failure


def test_stored_file_too_big_for_the_cap_is_not_even_read(app, db, seed) -> None:
    runtime = build_runtime(app.state.settings.replace(symbol_set_max_bytes=1024))
    blob = container(b"\0" * (blobformat.stored_size_bound(1024) + 1), compressed=False)
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, blob)
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, sample_frames()[-1])
    # Refused from its stored size alone (the message says so), before a byte of it was read.
    assert "inflates past the 1024-byte limit" in result.contents["resolve_failure"]
    assert f"the stored file is {len(blob)} bytes" in result.contents["resolve_failure"]


# ---------------------------------------------------------------------------------------------------------------------
# The cache keeps to its budget


def test_cache_budget_edge() -> None:
    cache: ByteBudgetLRU[str] = ByteBudgetLRU(100)
    assert cache.put("a", "fits exactly", 100) is True and len(cache) == 1
    assert cache.put("b", "one byte too many", 101) is False
    assert cache.get("b") is None and cache.total_bytes == 100
    assert cache.put("a", "replaced by something too big", 101) is False
    assert cache.get("a") is None and cache.total_bytes == 0 and len(cache) == 0
    cache.put("x", "x", 60)
    cache.put("y", "y", 60)  # evicts x
    assert cache.get("x") is None and cache.get("y") == "y" and cache.total_bytes == 60


def test_a_set_bigger_than_the_cache_is_used_but_never_cached(app, db, seed, monkeypatch) -> None:
    runtime = build_runtime(app.state.settings.replace(symbol_cache_mb=1))
    runtime.resolver.parsed.budget = 1000  # the sample set is ~2 KB once parsed
    store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())
    builds: list[int] = []
    real_parse = resolver_module.parse

    def counting_parse(blob: bytes, kind: Any, **options: Any) -> Any:
        builds.append(1)
        return real_parse(blob, kind, **options)

    monkeypatch.setattr(resolver_module, "parse", counting_parse)
    frames = sample_frames()[3:]
    results = resolve_batch(db, runtime.resolver, seed.project.id, frames)
    assert all(r and r[0].contents["resolved"] for r in results)
    assert len(builds) == 1  # the batch keeps it while it runs: one build for all of its frames
    assert len(runtime.resolver.parsed) == 0 and runtime.resolver.parsed.total_bytes == 0
    resolve_batch(db, runtime.resolver, seed.project.id, frames[:1])
    assert len(builds) == 2  # …and not after
