"""`fingerprints/` (spec §2.2) and `stack_frames/` (spec §2.3, seed page 000) contracts."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import sqlalchemy as sa

from faultline.db import Database
from faultline.releases.models import Release
from faultline.symbols.models import StackFrame, SymbolSet
from tests.conftest import Tenant
from tests.issues.conftest import Api, error
from tests.support.factories import BASE_TIME

FINGERPRINT_KEYS = {"id", "fingerprint", "issue_id", "created_at", "first_seen", "version"}
FRAME_KEYS = {"id", "raw_id", "created_at", "contents", "resolved", "context", "symbol_set_ref", "release"}
RELEASE_KEYS = {"id", "hash_id", "team_id", "created_at", "metadata", "version", "project"}


def test_fingerprint_list_retrieve_resolve(api: Api, make) -> None:
    first = make(fingerprints=["fp-1", "fp-2"], created_at=BASE_TIME)
    second = make(fingerprints=["fp-3"], created_at=BASE_TIME + dt.timedelta(hours=1))
    listed = api.get("fingerprints/").json()
    assert listed["count"] == 3
    assert [f["fingerprint"] for f in listed["results"]][-1] == "fp-3"  # ordered by created_at
    assert set(listed["results"][0]) == FINGERPRINT_KEYS
    only = api.get("fingerprints/", params={"issue_id": str(first.id)}).json()
    assert sorted(f["fingerprint"] for f in only["results"]) == ["fp-1", "fp-2"]
    assert api.get("fingerprints/", params={"issue_id": str(uuid.uuid4())}).json()["count"] == 0
    assert error(api.get("fingerprints/", params={"issue_id": "nope"})) == (
        400,
        "invalid_input",
        "issue_id must be a valid UUID",
        None,
    )

    item = next(f for f in listed["results"] if f["fingerprint"] == "fp-3")
    fetched = api.get(f"fingerprints/{item['id']}/").json()
    assert fetched == item and fetched["issue_id"] == str(second.id)
    assert error(api.get("fingerprints/nope/")) == (400, "invalid_input", "Invalid fingerprint id", None)
    assert error(api.get(f"fingerprints/{uuid.uuid4()}/")) == (404, "not_found", "Fingerprint not found", None)

    assert api.get("fingerprints/resolve/", params={"fingerprint": "fp-2"}).json()["issue_id"] == str(first.id)
    assert error(api.get("fingerprints/resolve/")) == (
        400,
        "invalid_input",
        "fingerprint query parameter is required",
        None,
    )
    assert error(api.get("fingerprints/resolve/", params={"fingerprint": "fp-9"}))[:3] == (
        404,
        "not_found",
        "Fingerprint not found",
    )
    assert error(api.get("fingerprints/resolve/", params={"fingerprint": "\x00"}))[0] == 404
    assert error(api.delete(f"fingerprints/{item['id']}/"))[:2] == (405, "method_not_allowed")
    assert api.get(f"fingerprints/{item['id']}/").status_code == 200


def _raw(n: int) -> str:
    return hashlib.sha512(f"frame-{n}".encode()).hexdigest()


def _frames(db: Database, seed: Tenant) -> dict[str, object]:
    with db.write() as session:
        release = Release(
            project_id=seed.project.id,
            hash_id="rel-hash",
            version="1.2.3",
            project_name="web",
            metadata_={"git": {"branch": "main"}},
        )
        session.add(release)
        session.flush()
        symbols = SymbolSet(project_id=seed.project.id, ref="chunk-1", storage_ptr="blob/1", release_id=release.id)
        other_symbols = SymbolSet(project_id=seed.project.id, ref="chunk-2", storage_ptr=None)
        session.add_all([symbols, other_symbols])
        session.flush()
        base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        rows = [
            StackFrame(
                project_id=seed.project.id,
                raw_id=_raw(0),
                part=0,
                symbol_set_id=symbols.id,
                contents={"function": "outer", "source": "app.js", "line": 10},
                resolved=True,
                context={"before": [], "line": {"number": 10, "line": "boom()"}, "after": []},
                created_at=base,
            ),
            StackFrame(
                project_id=seed.project.id,
                raw_id=_raw(0),
                part=1,
                symbol_set_id=symbols.id,
                contents={"function": "inlined"},
                resolved=True,
                created_at=base + dt.timedelta(seconds=1),
            ),
            StackFrame(
                project_id=seed.project.id,
                raw_id=_raw(1),
                part=0,
                symbol_set_id=other_symbols.id,
                contents={"function": "minified"},
                resolved=False,
                created_at=base + dt.timedelta(seconds=2),
            ),
            StackFrame(
                project_id=seed.project.id,
                raw_id=_raw(2),
                part=0,
                symbol_set_id=None,
                contents={"function": "python_frame"},
                resolved=True,
                created_at=base + dt.timedelta(seconds=3),
            ),
        ]
        session.add_all(rows)
        session.flush()
        return {"release": release.id, "symbols": symbols.id, "other": other_symbols.id, "ids": [r.id for r in rows]}


def test_stack_frame_list_and_retrieve(api: Api, db: Database, seed: Tenant) -> None:
    made = _frames(db, seed)
    listed = api.get("stack_frames/").json()
    assert listed["count"] == 4
    newest = listed["results"][0]
    assert set(newest) == FRAME_KEYS and newest["raw_id"] == f"{_raw(2)}/0" and newest["release"] is None
    first = next(f for f in listed["results"] if f["raw_id"] == f"{_raw(0)}/0")
    assert first["symbol_set_ref"] == "chunk-1" and first["resolved"] is True
    assert first["context"]["line"]["line"] == "boom()"
    assert set(first["release"]) == RELEASE_KEYS
    assert first["release"]["version"] == "1.2.3" and first["release"]["team_id"] == seed.project.id

    filtered = api.get("stack_frames/", params={"raw_ids": f"{_raw(0)}/1,{_raw(1)},garbage/x/y"}).json()
    assert sorted(f["contents"]["function"] for f in filtered["results"]) == ["inlined", "minified"]
    by_set = api.get("stack_frames/", params={"symbol_set": str(made["symbols"])}).json()
    assert by_set["count"] == 2
    assert error(api.get("stack_frames/", params={"symbol_set": "nope"}))[::3] == (400, "symbol_set")
    assert api.get("stack_frames/", params={"raw_ids": "x\x00"}).json()["count"] == 0

    assert api.get(f"stack_frames/{_raw(0)}/1/").json()["contents"] == {"function": "inlined"}
    assert api.get(f"stack_frames/{_raw(0)}/1").json()["contents"] == {"function": "inlined"}
    assert api.get(f"stack_frames/{_raw(0)}/").json()["contents"]["function"] == "outer"
    assert api.get(f"stack_frames/{made['ids'][3]}/").json()["raw_id"] == f"{_raw(2)}/0"
    for missing in (f"{_raw(0)}/7", _raw(9), str(uuid.uuid4()), "a/b/c", f"{_raw(0)}/99999999999999999999"):
        assert error(api.get(f"stack_frames/{missing}/"))[:2] == (404, "not_found"), missing
    assert error(api.delete(f"stack_frames/{_raw(0)}/0/"))[:2] == (405, "method_not_allowed")


def test_batch_get(api: Api, db: Database, seed: Tenant) -> None:
    made = _frames(db, seed)

    def batch(body: object) -> list[str]:
        response = api.post("stack_frames/batch_get/", json=body)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"results"}
        return sorted(f["contents"]["function"] for f in response.json()["results"])

    assert batch({"raw_ids": [f"{_raw(0)}/0", f"{_raw(0)}/1"]}) == ["inlined", "outer"]
    assert batch({"raw_ids": [_raw(1)]}) == ["minified"]  # bare raw id = part 0
    assert batch({"raw_ids": [f"{_raw(0)}/0", _raw(1)], "symbol_set": str(made["symbols"])}) == ["outer"]
    assert batch({}) == ["inlined", "minified", "outer", "python_frame"]  # no filter: all frames
    assert batch({"symbol_set": str(made["other"])}) == ["minified"]
    # Malformed ids match nothing and never fail (PostHog A49).
    malformed = [1, None, {"a": 1}, "", "a/b/c", f"{_raw(0)}/x", f"{_raw(0)}/-1", f"{_raw(0)}/1e99", "x" * 5000]
    assert batch({"raw_ids": malformed}) == []
    assert batch({"raw_ids": [f"{_raw(0)}/99999999999999999999999"]}) == []
    # The part is ASCII digits: `١` is not another spelling of part 1.
    assert batch({"raw_ids": [f"{_raw(0)}/\u0661", f"{_raw(0)}/+1", f"{_raw(0)}/1_0"]}) == []
    assert api.get(f"stack_frames/{_raw(0)}/%D9%A1/").status_code == 404
    assert batch({"raw_ids": [_raw(2)], "symbol_set": "not-a-uuid"}) == []
    # Many ids are fetched in chunks.
    many = [hashlib.sha512(f"missing-{n}".encode()).hexdigest() for n in range(1500)] + [_raw(2)]
    assert batch({"raw_ids": many}) == ["python_frame"]
    assert error(api.post("stack_frames/batch_get/", json={"raw_ids": "abc"}))[::3] == (400, "raw_ids")
    assert api.post("stack_frames/batch_get/").status_code == 200


def test_frames_of_other_projects_are_invisible(api: Api, other_api: Api, db: Database, seed: Tenant) -> None:
    _frames(db, seed)
    with db.read() as session:
        frame_id = session.execute(sa.select(StackFrame.id).limit(1)).scalar_one()
    assert other_api.get("stack_frames/").json()["count"] == 0
    assert other_api.post("stack_frames/batch_get/", json={"raw_ids": [f"{_raw(0)}/0"]}).json() == {"results": []}
    assert other_api.post("stack_frames/batch_get/", json={}).json() == {"results": []}
    assert other_api.get(f"stack_frames/{_raw(0)}/0/").status_code == 404
    assert other_api.get(f"stack_frames/{frame_id}/").status_code == 404
    assert api.get(f"stack_frames/{frame_id}/").status_code == 200
