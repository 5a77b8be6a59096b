"""The symbol writes a digest batch collects while resolving and applies inside its write transaction.

Each test changes the symbol sets from a hook that runs after the batch resolved its frames and before its write
transaction starts — the window the two-phase digest opens — and checks what the batch stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.issues.models import Event
from faultline.pipeline import digest
from faultline.pipeline.digest import Pipeline
from faultline.pipeline.reprocess import RepairRunner
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.symbols.runtime import SymbolsRuntime, build_runtime, runtime_for
from tests.support.ingest import ingest
from tests.symbols.support import CHUNK_ID, SAMPLES, Route, ScriptServer, sample_blob, sha512, store_symbol_set
from tests.symbols.test_api import upload
from tests.symbols.test_pipeline import assert_symbolicated, js_event, page_frames

MIN_JS = (SAMPLES / "js_bundle" / "app.min.js").read_bytes()
MIN_MAP = (SAMPLES / "js_bundle" / "app.min.js.map").read_bytes()


@pytest.fixture
def runtime(app) -> SymbolsRuntime:
    return build_runtime(app.state.settings.replace(sourcemap_allow_internal_ips=True))


@pytest.fixture
def after_resolving(monkeypatch) -> Callable[[Callable[[], Any]], list[int]]:
    """Run `action` once, after the next batch resolved its frames and before its write transaction; the returned
    list counts how often the pipeline resolved a batch."""

    def install(action: Callable[[], Any]) -> list[int]:
        real = digest.resolve_stage
        resolved: list[int] = []

        def hooked(batch: Any, resolver: Any) -> Any:
            out = real(batch, resolver)
            resolved.append(1)
            if len(resolved) == 1:
                action()
            return out

        monkeypatch.setattr(digest, "resolve_stage", hooked)
        return resolved

    return install


def frame_rows(db, project_id: int) -> list[StackFrame]:
    with db.read() as session:
        return list(session.scalars(sa.select(StackFrame).where(StackFrame.project_id == project_id)))


def symbol_sets(db, project_id: int) -> list[SymbolSet]:
    with db.read() as session:
        return list(session.scalars(sa.select(SymbolSet).where(SymbolSet.project_id == project_id)))


@pytest.mark.parametrize("before", ["no row", "negative row"])
def test_upload_landing_after_resolution_makes_the_batch_resolve_again(
    db, seed, runtime, after_resolving, before: str
) -> None:
    pipeline = Pipeline(db, symbols=runtime.resolver)
    if before == "negative row":  # an earlier batch recorded "not uploaded" (and this process cached it)
        [first] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
        assert [f["resolved"] for f in page_frames(first)] == [False, False, False]
    uploaded: list[uuid.UUID] = []

    def upload_now() -> None:
        key = f"late-{uuid.uuid4().hex}"
        runtime.storage.put(key, sample_blob())
        with db.write() as session:
            row = session.scalar(sa.select(SymbolSet).where(SymbolSet.project_id == seed.project.id))
            if row is None:
                row = SymbolSet(project_id=seed.project.id, ref=CHUNK_ID)
                session.add(row)
            row.storage_ptr, row.content_hash, row.failure_reason = key, sha512(sample_blob()), None
            session.flush()
            uploaded.append(row.id)

    resolved = after_resolving(upload_now)
    [out] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    assert len(resolved) == 2  # the first resolution was outdated by the upload: resolved again
    assert_symbolicated(page_frames(out))
    [row] = symbol_sets(db, seed.project.id)
    assert row.id == uploaded[0] and row.storage_ptr is not None and row.failure_reason is None
    linked = {r.symbol_set_id for r in frame_rows(db, seed.project.id) if r.resolved and r.symbol_set_id}
    assert linked == {row.id}


def test_set_deleted_after_resolution_leaves_no_dangling_frame_rows(db, seed, runtime, after_resolving) -> None:
    stored = store_symbol_set(db, runtime.storage, seed.project.id, CHUNK_ID, sample_blob())

    def delete_now() -> None:
        with db.write() as session:
            session.execute(sa.delete(SymbolSet).where(SymbolSet.id == stored.id))

    resolved = after_resolving(delete_now)
    [out] = ingest(db, seed.project, [js_event()], pipeline=Pipeline(db, symbols=runtime.resolver))
    assert out.status == "stored" and len(resolved) == 1  # nothing newer to resolve against
    assert_symbolicated(page_frames(out))  # what the set said while it existed
    rows = frame_rows(db, seed.project.id)
    assert rows and all(r.symbol_set_id is None for r in rows)
    assert symbol_sets(db, seed.project.id) == []


@pytest.fixture
def web() -> Iterator[ScriptServer]:
    server = ScriptServer()
    server.thread.start()
    server.routes["/static/app.min.js"] = Route(body=MIN_JS)
    server.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def fetched_event(url: str) -> dict[str, Any]:
    event = js_event()
    frame = {"platform": "web:javascript", "filename": url, "function": "i", "lineno": 1, "colno": 59, "in_app": True}
    event["properties"]["$exception_list"][0]["stacktrace"]["frames"] = [frame]
    return event


def test_fetched_set_that_loses_the_insert_race_leaves_no_blob(db, seed, runtime, web, after_resolving) -> None:
    url = f"{web.url}/static/app.min.js"
    stored_keys: list[str] = []
    real_put = runtime.storage.put
    runtime.storage.put = lambda key, data: (stored_keys.append(key), real_put(key, data))[1]  # type: ignore[method-assign]
    winner: list[uuid.UUID] = []

    def other_worker_records_a_failure() -> None:
        with db.write() as session:
            row = SymbolSet(project_id=seed.project.id, ref=url, failure_reason="fetched elsewhere: 404")
            session.add(row)
            session.flush()
            winner.append(row.id)

    after_resolving(other_worker_records_a_failure)
    [out] = ingest(db, seed.project, [fetched_event(url)], pipeline=Pipeline(db, symbols=runtime.resolver))
    [frame] = out.properties["$exception_list"][0]["stacktrace"]["frames"]
    assert frame["resolved"] is True and frame["resolved_name"] == "validateCart"
    [row] = symbol_sets(db, seed.project.id)
    assert row.id == winner[0] and row.storage_ptr is None  # the existing row is never overwritten
    assert {r.symbol_set_id for r in frame_rows(db, seed.project.id)} == {row.id}
    [key] = stored_keys
    assert runtime.storage.get(key) is None  # our fetched copy had nothing pointing at it: deleted


def test_fetched_blob_of_a_rolled_back_batch_is_deleted(db, seed, runtime, web, monkeypatch) -> None:
    url = f"{web.url}/static/app.min.js"
    stored_keys: list[str] = []
    real_put = runtime.storage.put
    runtime.storage.put = lambda key, data: (stored_keys.append(key), real_put(key, data))[1]  # type: ignore[method-assign]
    real_counters = digest.diag.add_counters
    failures: list[int] = []

    def fail_once(session: Any, counts: Any) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("the database went away mid-batch")
        real_counters(session, counts)

    monkeypatch.setattr(digest.diag, "add_counters", fail_once)
    pipeline = Pipeline(db, symbols=runtime.resolver)
    with pytest.raises(RuntimeError):
        ingest(db, seed.project, [fetched_event(url)], pipeline=pipeline)
    assert symbol_sets(db, seed.project.id) == []
    [lost] = stored_keys
    assert runtime.storage.get(lost) is None
    # The retry fetches again and keeps its copy.
    [out] = ingest(db, seed.project, [fetched_event(url)], pipeline=pipeline)
    assert out.status == "stored"
    [row] = symbol_sets(db, seed.project.id)
    assert row.storage_ptr == stored_keys[1] and runtime.storage.get(row.storage_ptr) is not None


def test_repair_chunk_rereads_events_changed_while_it_resolved(app, client, db, seed, monkeypatch) -> None:
    """Another writer (a second repair job in another process) rewrote an event between the chunk's read and its
    write: the chunk must not overwrite that change with properties derived from the old version."""
    runtime = runtime_for(app.state)
    pipeline = Pipeline(db, symbols=runtime.resolver)
    [early] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    upload(client, seed)
    real_read = RepairRunner._read_chunk
    reads: list[int] = []

    def read_then_interfere(self: RepairRunner, job_id: uuid.UUID) -> Any:
        chunk = real_read(self, job_id)
        reads.append(1)
        if len(reads) == 1:
            with db.write() as session:
                event = session.scalar(sa.select(Event).where(Event.uuid == early.uuid))
                event.properties = {**event.properties, "written_by_someone_else": True}
        return chunk

    monkeypatch.setattr(RepairRunner, "_read_chunk", read_then_interfere)
    assert RepairRunner(db, runtime, project_id=seed.project.id).run_pending() == 1
    assert len(reads) == 2
    with db.read() as session:
        stored = session.scalar(sa.select(Event).where(Event.uuid == early.uuid))
    assert stored.properties["written_by_someone_else"] is True
    assert_symbolicated(
        [
            f
            for f in stored.properties["$exception_list"][0]["stacktrace"]["frames"]
            if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == CHUNK_ID
        ]
    )
