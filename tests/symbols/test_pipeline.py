"""Symbolication inside real digest-pipeline runs, and the late-symbols repair (issue 7 acceptance)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from faultline.issues.models import ActivityLog, Event, Issue, IssueFingerprint, IssueVolumeHourly
from faultline.jobs.models import BackgroundJob
from faultline.pipeline.digest import Pipeline
from faultline.pipeline.reprocess import RepairRunner
from faultline.symbols.models import StackFrame
from faultline.symbols.runtime import runtime_for
from tests.support.ingest import ingest
from tests.symbols.support import CHUNK_ID, SAMPLES, sample_event
from tests.symbols.test_api import base, upload

ORIGINAL = (SAMPLES / "js_bundle/app.js").read_text().splitlines()


@pytest.fixture
def pipeline(app) -> Pipeline:
    return Pipeline(app.state.db, symbols=app.state.runtime.symbols.resolver)


def js_event(**changes: Any) -> dict[str, Any]:
    event = sample_event()
    event["uuid"] = str(uuid.uuid4())
    event.update(changes)
    return event


def page_frames(out) -> list[dict[str, Any]]:
    frames = out.properties["$exception_list"][0]["stacktrace"]["frames"]
    return [f for f in frames if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == CHUNK_ID]


def assert_symbolicated(frames: list[dict[str, Any]]) -> None:
    assert [(f["source"], f["line"], f["column"], f["resolved_name"]) for f in frames] == [
        ("../src/app.js", 19, 19, "checkout"),
        ("../src/app.js", 10, 17, "computeTotal"),
        ("../src/app.js", 4, 11, "validateCart"),
    ]
    assert all(f["resolved"] is True and f["lang"] == "javascript" for f in frames)


def test_sample_event_resolves_in_the_pipeline(app, client, seed, pipeline) -> None:
    symbol_set_id = upload(client, seed)
    [out] = ingest(app.state.db, seed.project, [js_event()], pipeline=pipeline)
    assert out.status == "stored"
    frames = page_frames(out)
    assert_symbolicated(frames)
    assert out.properties["$exception_functions"][-3:] == ["checkout", "computeTotal", "validateCart"]
    assert "../src/app.js" in out.properties["$exception_sources"]
    with app.state.db.read() as session:
        rows = {
            (row.raw_id, row.part): row
            for row in session.scalars(sa.select(StackFrame).where(StackFrame.project_id == seed.project.id))
        }
    for frame in frames:
        raw_hash, part = frame["raw_id"].split("/")
        row = rows[(raw_hash, int(part))]
        assert str(row.symbol_set_id) == symbol_set_id and row.resolved is True
        line = frame["line"]
        assert row.context["line"] == {"number": line, "line": ORIGINAL[line - 1]}
        assert [c["line"] for c in row.context["before"]] == ORIGINAL[max(0, line - 16) : line - 1]
    # The set's chunk id is also what the API's `symbol_set_ref` of these frames points at.
    listed = client.get(f"{base(seed)}/?ref={CHUNK_ID}", headers=seed.headers).json()["results"]
    assert listed[0]["last_used"] is not None


def test_without_symbols_frames_say_why(app, seed, pipeline) -> None:
    [out] = ingest(app.state.db, seed.project, [js_event()], pipeline=pipeline)
    frames = page_frames(out)
    assert [f["resolved"] for f in frames] == [False, False, False]
    assert all(f["resolve_failure"].startswith(f"No sourcemap uploaded for chunk id: {CHUNK_ID}") for f in frames)


# ---------------------------------------------------------------------------------------------------------------------
# Late symbols


def issue_of(db, fingerprint: str, project_id: int) -> Issue | None:
    with db.read() as session:
        return session.scalar(
            sa.select(Issue)
            .join(IssueFingerprint, IssueFingerprint.issue_id == Issue.id)
            .where(IssueFingerprint.fingerprint == fingerprint, IssueFingerprint.project_id == project_id)
        )


def activities(db, issue_id: uuid.UUID) -> list[ActivityLog]:
    with db.read() as session:
        return list(
            session.scalars(
                sa.select(ActivityLog).where(ActivityLog.item_id == str(issue_id)).order_by(ActivityLog.created_at)
            )
        )


def test_late_upload_moves_stored_events_to_the_symbolicated_issue(app, client, seed, pipeline) -> None:
    db = app.state.db
    # 1. The event arrives before its source maps: grouped on minified frames → issue A.
    [early] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    issue_a, fingerprint_a = early.issue_id, early.fingerprint
    assert [f["resolved"] for f in page_frames(early)] == [False, False, False]

    # 2. The symbol set is uploaded (the CLI flow); a repair job is queued.
    symbol_set_id = upload(client, seed)
    # 3. The same error again, now symbolicated at ingestion: a new fingerprint, issue B.
    [late] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    issue_b, fingerprint_b = late.issue_id, late.fingerprint
    assert fingerprint_b != fingerprint_a and issue_b != issue_a

    # 4. The repair re-resolves the early event and regroups it.
    assert RepairRunner(db, runtime_for(app.state), project_id=seed.project.id).run_pending() == 1
    with db.read() as session:
        stored = session.scalar(sa.select(Event).where(Event.uuid == early.uuid))
        job = session.scalar(sa.select(BackgroundJob).where(BackgroundJob.project_id == seed.project.id))
        fp_a = session.scalar(
            sa.select(IssueFingerprint).where(
                IssueFingerprint.fingerprint == fingerprint_a, IssueFingerprint.project_id == seed.project.id
            )
        )
        gone = session.get(Issue, issue_a)
        issue = session.get(Issue, issue_b)
        hourly = session.scalar(
            sa.select(sa.func.sum(IssueVolumeHourly.count)).where(IssueVolumeHourly.issue_id == issue_b)
        )
    frames = [
        f
        for f in stored.properties["$exception_list"][0]["stacktrace"]["frames"]
        if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == CHUNK_ID
    ]
    assert_symbolicated(frames)
    assert (stored.fingerprint, stored.issue_id) == (fingerprint_b, issue_b)
    assert stored.properties["$exception_fingerprint"] == fingerprint_b
    assert stored.properties["$exception_issue_id"] == str(issue_b)
    assert (fp_a.issue_id, fp_a.version) == (issue_b, 1)  # re-pointed like a merge
    assert gone is None  # A lost its only fingerprint: merged into B
    assert (issue.occurrences, hourly) == (2, 2)
    kinds = [(a.activity, a.detail.get("changes", [{}])[0].get("field")) for a in activities(db, issue_b)]
    assert ("symbolicated", "fingerprint") in kinds and ("merged", "merged_issue_ids") in kinds
    merged = next(a for a in activities(db, issue_b) if a.activity == "merged")
    assert merged.detail["changes"][0]["after"] == [str(issue_a)]
    assert merged.detail["trigger"] == {"type": "symbolication", "symbol_set_ref": CHUNK_ID}
    assert job.status == "done" and job.progress["repaired"] == 1 and job.progress["regrouped"] == 1
    jobs = client.get(f"{base(seed)}/repair_jobs/?symbol_set={symbol_set_id}", headers=seed.headers).json()
    assert jobs["results"][0]["status"] == "done" and jobs["results"][0]["progress"]["percent"] == 100
    # Later unresolved copies (an old client still sending) land in B too.
    assert issue_of(db, fingerprint_a, seed.project.id).id == issue_b


def test_late_upload_without_a_newer_issue_keeps_the_issue(app, client, seed, pipeline) -> None:
    db = app.state.db
    [early] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    upload(client, seed)
    RepairRunner(db, runtime_for(app.state), project_id=seed.project.id).run_pending()
    with db.read() as session:
        stored = session.scalar(sa.select(Event).where(Event.uuid == early.uuid))
    assert stored.issue_id == early.issue_id and stored.fingerprint != early.fingerprint
    assert [a.activity for a in activities(db, early.issue_id)].count("symbolicated") == 1
    # A new, symbolicated event of the same error joins the same issue.
    [later] = ingest(db, seed.project, [js_event()], pipeline=pipeline)
    assert later.issue_id == early.issue_id and later.fingerprint == stored.fingerprint


def test_repair_window_and_unrelated_events(app, client, seed, pipeline) -> None:
    db = app.state.db
    old_time = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
    [old] = ingest(db, seed.project, [js_event(timestamp=old_time)], pipeline=pipeline)
    other = js_event()
    for frame in other["properties"]["$exception_list"][0]["stacktrace"]["frames"]:
        if "chunk_id" in frame:
            frame["chunk_id"] = "another-chunk"
    [unrelated] = ingest(db, seed.project, [other], pipeline=pipeline)
    upload(client, seed)
    RepairRunner(db, runtime_for(app.state), project_id=seed.project.id).run_pending()
    with db.read() as session:
        by_uuid = {e.uuid: e for e in session.scalars(sa.select(Event).where(Event.project_id == seed.project.id))}
    assert by_uuid[old.uuid].fingerprint == old.fingerprint  # outside the 7-day window
    assert by_uuid[unrelated.uuid].fingerprint == unrelated.fingerprint


def test_repair_resumes_after_a_crash(app, client, seed, pipeline) -> None:
    db = app.state.db
    outs = ingest(db, seed.project, [js_event() for _ in range(3)], pipeline=pipeline)
    upload(client, seed)
    runner = RepairRunner(db, runtime_for(app.state), chunk_size=1, project_id=seed.project.id)
    job_id = runner.claim()
    assert job_id is not None and runner.claim() is None  # claimed once
    assert runner._chunk(job_id) is False  # one event done, then the process "dies"
    with db.write() as session:
        job = session.get(BackgroundJob, job_id)
        assert job.status == "running" and job.progress["repaired"] == 1
        job.updated_at = job.updated_at - dt.timedelta(minutes=5)  # its heartbeat goes stale
    survivor = RepairRunner(db, runtime_for(app.state), chunk_size=1, project_id=seed.project.id)
    assert survivor.run_pending() == 1
    with db.read() as session:
        job = session.get(BackgroundJob, job_id)
        events = session.scalars(sa.select(Event).where(Event.uuid.in_([o.uuid for o in outs]))).all()
    assert job.status == "done" and job.progress["repaired"] == 3
    assert len({e.fingerprint for e in events}) == 1 and events[0].fingerprint != outs[0].fingerprint


def test_manual_fingerprints_are_kept(app, client, seed, pipeline) -> None:
    db = app.state.db
    event = js_event()
    event["properties"]["$exception_fingerprint"] = "my-own-grouping"
    [out] = ingest(db, seed.project, [event], pipeline=pipeline)
    upload(client, seed)
    RepairRunner(db, runtime_for(app.state), project_id=seed.project.id).run_pending()
    with db.read() as session:
        stored = session.scalar(sa.select(Event).where(Event.uuid == out.uuid))
    assert stored.fingerprint == "my-own-grouping" and stored.issue_id == out.issue_id
    assert_symbolicated(
        [
            f
            for f in stored.properties["$exception_list"][0]["stacktrace"]["frames"]
            if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == CHUNK_ID
        ]
    )
