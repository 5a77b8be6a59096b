"""The list's release / environment / level / date filters (UI and API) and the culprit in the list and header."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faultline.db import Database, utcnow
from faultline.issues import queries
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest, python_frame


def _event(kind: str, function: str, *, days_ago: float = 0, level: str = "error", **props: Any) -> dict[str, Any]:
    return exception_event(
        kind,
        f"{kind} happened",
        frames=[python_frame("main", 1, filename="app/main.py"), python_frame(function, 20, filename="app/pay.py")],
        properties={"$exception_level": level, **props},
        timestamp=(utcnow() - dt.timedelta(days=days_ago)).isoformat(),
    )


def titles(page: str) -> list[str]:
    return re.findall(r'class="issue-title" href="[^"]+">([^<]+)</a>', page)


def test_filters_by_release_environment_level_and_date(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    ingest(
        db,
        seed.project,
        [
            _event("PayError", "pay", **{"$app_version": "1.0", "$environment": "production"}),
            _event("CartError", "cart", level="warning", **{"$app_version": "2.0", "$environment": "staging"}),
            _event("OldError", "old", days_ago=20, **{"$app_version": "0.9"}),
        ],
    )
    base = f"/project/{seed.project.id}/issues"
    assert sorted(titles(logged_in.get(base).text)) == ["CartError", "OldError", "PayError"]
    assert titles(logged_in.get(base + "?release=2.0").text) == ["CartError"]
    assert titles(logged_in.get(base + "?environment=production").text) == ["PayError"]
    assert titles(logged_in.get(base + "?level=warning").text) == ["CartError"]
    assert sorted(titles(logged_in.get(base + "?seen=-7d").text)) == ["CartError", "PayError"]
    old_day = (utcnow() - dt.timedelta(days=20)).date().isoformat()
    assert titles(logged_in.get(base + f"?from={old_day}&to={old_day}").text) == ["OldError"]
    page = logged_in.get(base + "?release=2.0").text
    # The menus offer the project's values; the panel stays open while a filter is on.
    assert '<option value="2.0" selected>2.0</option>' in page and '<option value="0.9">0.9</option>' in page
    assert '<details class="more-filters" open>' in page
    bad = logged_in.get(base + "?from=yesterday")
    assert bad.status_code == 400 and 'id="err-from"' in bad.text

    api = f"/api/environments/{seed.project.id}/error_tracking/issues/"
    names = lambda params: sorted(i["name"] for i in logged_in.get(api, params=params).json()["results"])  # noqa: E731
    assert names({"release": "1.0,2.0"}) == ["CartError", "PayError"]
    assert names({"environment": "staging", "level": "warning"}) == ["CartError"]
    assert names({"release": "3.0"}) == []


def test_culprit_in_list_header_and_api(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    [outcome] = ingest(db, seed.project, [_event("PayError", "charge_card")])
    listing = logged_in.get(f"/project/{seed.project.id}/issues").text
    assert '<p class="culprit" title="Where it was raised">charge_card in app/pay.py</p>' in listing
    page = logged_in.get(f"/project/{seed.project.id}/issues/{outcome.issue_id}").text
    assert 'id="issue-culprit" title="Where it was raised">charge_card in app/pay.py</p>' in page
    body = logged_in.get(f"/api/environments/{seed.project.id}/error_tracking/issues/{outcome.issue_id}/").json()
    assert body["culprit"] == "charge_card in app/pay.py"


@pytest.mark.parametrize("probe", [2_000, 1])
def test_tag_filters_answer_the_same_resolved_up_front_or_as_conditions(
    logged_in: TestClient, seed: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    """A tag filter matching few issues is read as their ids first, a wider one stays a condition of the query
    (`queries._resolve_tags`); with a probe of 1 the two-issue filters take the second path, the others the first."""
    monkeypatch.setattr(queries, "SEARCH_PROBE", probe)
    ingest(
        db,
        seed.project,
        [
            _event("PayError", "pay", **{"$app_version": "1.0", "$environment": "production"}),
            _event("CartError", "cart", level="warning", **{"$app_version": "2.0", "$environment": "production"}),
            _event("ShipError", "ship", **{"$app_version": "2.0", "$environment": "staging"}),
        ],
    )
    api = f"/api/environments/{seed.project.id}/error_tracking/issues/"

    def names(params: dict[str, str]) -> tuple[int, list[str]]:
        body = logged_in.get(api, params=params).json()
        return body["count"], sorted(i["name"] for i in body["results"])

    assert names({"release": "1.0"}) == (1, ["PayError"])
    assert names({"release": "2.0"}) == (2, ["CartError", "ShipError"])
    assert names({"release": "1.0,2.0", "environment": "production"}) == (2, ["CartError", "PayError"])
    assert names({"release": "2.0", "environment": "production"}) == (1, ["CartError"])
    assert names({"release": "2.0", "level": "warning"}) == (1, ["CartError"])
    assert names({"release": "2.0", "search": "ShipError"}) == (1, ["ShipError"])
    assert names({"release": "1.0", "environment": "staging"}) == (0, [])
    assert names({"release": "9.9"}) == (0, [])
