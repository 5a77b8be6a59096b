"""A rule's preview (dry run) over stored events: counts, sampling, the bound on events read, each kind's sentence,
and the REST endpoint's validation — what the UI shows before it lets a rule be saved."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.rules import preview
from faultline.rules.service import RuleError
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest

TYPE_IS = {
    "type": "AND",
    "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["NoiseError"]}],
}


@pytest.fixture
def events(db: Database, seed: Tenant) -> None:
    old = (utcnow() - dt.timedelta(days=9)).isoformat()
    ingest(
        db,
        seed.project,
        [
            exception_event("NoiseError", "a", distinct_id="u1"),
            exception_event("NoiseError", "a", distinct_id="u2"),
            exception_event("RealError", "b"),
            exception_event("NoiseError", "too old to count", timestamp=old),
        ],
    )


def _run(db: Database, seed: Tenant, kind: str, filters: dict | None, **kwargs: object) -> preview.RulePreview:
    with db.read() as session:
        return preview.preview_rule(
            session,
            seed.project.id,
            kind,
            filters,
            now=utcnow(),
            limit=kwargs.pop("limit", 1000),
            **kwargs,  # type: ignore[arg-type]
        )


def test_counts_over_the_last_seven_days(db: Database, seed: Tenant, events: None) -> None:
    result = _run(db, seed, "suppression", TYPE_IS)
    assert (result.matched_events, result.matched_issues, result.events_in_window) == (2, 1, 3)
    assert (result.affected_events, result.match_all, result.matches_everything) == (2, False, False)
    assert [issue["events"] for issue in result.top_issues] == [2]
    assert preview.describe(result) == (
        "Matches 2 of the last 7 days' 3 events across 1 issue: would drop all of them."
    )
    everything = _run(db, seed, "suppression", None)
    assert everything.match_all and everything.matches_everything and everything.matched_events == 3
    none_dropped = _run(db, seed, "suppression", TYPE_IS, sampling_rate=0.0)
    assert none_dropped.affected_events == 0
    assert preview.describe(none_dropped).endswith("would drop 0 events (sampling rate).")


def test_every_event_matching_counts_as_match_all(db: Database, seed: Tenant, events: None) -> None:
    is_set = {"type": "AND", "values": [{"key": "$lib", "type": "event", "operator": "is_set", "value": None}]}
    result = _run(db, seed, "suppression", is_set)
    assert not result.match_all and result.matches_everything


def test_the_preview_reads_at_most_its_limit(db: Database, seed: Tenant, events: None) -> None:
    """FAULTLINE_RULE_PREVIEW_EVENTS at its edge: one event read, and the sentence says so."""
    result = _run(db, seed, "suppression", None, limit=1)
    assert (result.events_considered, result.events_in_window, result.truncated) == (1, 3, True)
    assert "the newest 1 event of the last 7 days (3 events in all)" in preview.describe(result)


def test_each_kind_says_what_it_would_do(db: Database, seed: Tenant, events: None) -> None:
    either = {
        "type": "OR",
        "values": [
            {"key": "$exception_types", "type": "event", "operator": "exact", "value": ["NoiseError"]},
            {"key": "$exception_types", "type": "event", "operator": "exact", "value": ["RealError"]},
        ],
    }
    assert preview.describe(_run(db, seed, "grouping", either)).endswith("would merge 2 issues into one.")
    assert preview.describe(_run(db, seed, "grouping", TYPE_IS)).endswith("into an issue of their own.")
    assignment = _run(db, seed, "assignment", TYPE_IS)
    assert preview.describe(assignment).endswith("would assign 1 issue when they are next created or reopened.")


def test_filters_that_do_not_compile_are_refused(db: Database, seed: Tenant) -> None:
    bad = {"type": "AND", "values": [{"key": "$lib", "type": "event", "operator": "regex", "value": "("}]}
    with pytest.raises(RuleError):
        _run(db, seed, "suppression", bad)


def test_dry_run_endpoint(client: TestClient, seed: Tenant, events: None) -> None:
    base = f"/api/environments/{seed.project.id}/error_tracking"
    headers = {"Authorization": f"Bearer {seed.api_key}"}
    response = client.post(f"{base}/grouping_rules/dry_run/", json={"filters": TYPE_IS}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["matched_events"], body["matched_issues"]) == ("grouping", 2, 1)
    assert body["summary"].startswith("Matches 2 of the last 7 days' 3 events")
    bad = client.post(f"{base}/suppression_rules/dry_run/", json={"sampling_rate": 2}, headers=headers)
    assert bad.status_code == 400 and bad.json()["attr"] == "sampling_rate"
    shape = client.post(f"{base}/suppression_rules/dry_run/", json={"filters": {"values": 5}}, headers=headers)
    assert shape.status_code == 400 and shape.json()["type"] == "validation_error"
    assert client.post(f"{base}/suppression_rules/dry_run/", json={}).status_code in (401, 403)
