"""Splitting every fingerprint off an issue: the REST API allows it (PostHog does), the web UI asks the service to
refuse it (`keep_one`) — one service, one place for the rule."""

from __future__ import annotations

import pytest

from faultline.db import Database
from faultline.issues import service
from tests.conftest import Tenant
from tests.issues.conftest import Api


def _split(db: Database, seed: Tenant, issue_id: object, fingerprints: list[str], *, keep_one: bool) -> list:
    requests = [service.SplitRequest(fingerprint=value) for value in fingerprints]
    with db.write() as session:
        return service.split_issue(session, seed.project.id, issue_id, requests, None, keep_one=keep_one)


def test_keep_one_refuses_to_empty_the_issue_and_allows_the_rest(make, db: Database, seed: Tenant) -> None:
    issue = make(fingerprints=["fp-1", "fp-2"])
    with pytest.raises(service.KeepOneFingerprint) as refused:
        _split(db, seed, issue.id, ["fp-1", "fp-2", "not-owned"], keep_one=True)
    assert refused.value.attr == "fingerprints" and "Keep at least one fingerprint" in refused.value.detail
    assert len(_split(db, seed, issue.id, ["fp-2", "not-owned"], keep_one=True)) == 1


def test_the_api_still_splits_every_fingerprint(make, api: Api) -> None:
    issue = make(fingerprints=["fp-a", "fp-b"])
    body = {"fingerprints": [{"fingerprint": "fp-a"}, {"fingerprint": "fp-b"}]}
    answer = api.post(f"issues/{issue.id}/split/", json=body)
    assert answer.status_code == 200 and len(answer.json()["new_issue_ids"]) == 2
