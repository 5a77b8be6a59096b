"""A per-user time zone: exact times (hover titles) on every page are shown in it; data stays UTC."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest, python_frame
from tests.web.conftest import csrf_from

STAMP = "2026-11-22T12:00:05+00:00"


def _titles(page: str) -> list[str]:
    return re.findall(r'<time class="[^"]*" datetime="2026-11-22T12:00:05Z" title="([^"]+)"', page)


def test_exact_times_follow_the_users_time_zone(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    [outcome] = ingest(db, seed.project, [exception_event("KeyError", "x", frames=[python_frame()], timestamp=STAMP)])
    url = f"/project/{seed.project.id}/issues/{outcome.issue_id}"
    assert set(_titles(logged_in.get(url).text)) == {"2026-11-22 12:00:05 UTC"}
    token = csrf_from(logged_in.get("/account").text)
    response = logged_in.post("/account/time-zone", data={"csrf_token": token, "time_zone": "Asia/Kolkata"})
    assert response.status_code == 200 and "Times are now shown in Asia/Kolkata." in response.text
    assert '<option value="Asia/Kolkata" selected>' in response.text
    assert set(_titles(logged_in.get(url).text)) == {"2026-11-22 17:30:05 IST"}
    # The machine-readable datetime stays UTC; an unknown zone is refused next to the field.
    bad = logged_in.post("/account/time-zone", data={"csrf_token": token, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and 'id="err-time_zone"' in bad.text and "Unknown time zone" in bad.text
    logged_in.post("/account/time-zone", data={"csrf_token": token, "time_zone": "UTC"})
    assert set(_titles(logged_in.get(url).text)) == {"2026-11-22 12:00:05 UTC"}
