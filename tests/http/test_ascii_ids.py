"""Ids and integers in URLs are ASCII digits only.

`str.isdigit()` is true for `²` (then `int()` raises: a 500) and for other scripts' digits such as `١` (then `int()`
quietly gives 1: `/api/environments/%D9%A1/` was another name for project 1). Every such value is now a 404 for an
id and "not given" for a lenient integer such as `?offset=`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.app import create_app
from faultline.db import Database
from faultline.ids import parse_ascii_int
from tests.conftest import Tenant, make_settings, make_tenant
from tests.web.conftest import login


def arabic_indic(number: int) -> str:
    """`12` → `١٢`: digits Python's int() accepts but that are not ASCII."""
    return "".join(chr(0x0660 + int(c)) for c in str(number))


def test_parse_ascii_int() -> None:
    assert parse_ascii_int("0") == 0 and parse_ascii_int("42") == 42
    for bad in ("²", "١", "４２", "", " 1", "1 ", "+1", "-1", "1_000", "1.0", "1" * 13, None, 7):
        assert parse_ascii_int(bad) is None, repr(bad)
    assert parse_ascii_int("9" * 20, max_digits=20) == int("9" * 20)


def test_api_project_ids_in_other_scripts_are_404_not_500_or_an_alias(client: TestClient, seed: Tenant) -> None:
    pid = seed.project.id
    assert client.get(f"/api/environments/{pid}/", headers=seed.headers).status_code == 200
    for raw in ("²", "¹", arabic_indic(pid), f"{pid}\u0661", "４"):
        for path in (f"/api/environments/{quote(raw)}/", f"/api/projects/{quote(raw)}/error_tracking/issues/"):
            response = client.get(path, headers=seed.headers)
            assert response.status_code == 404, (raw, path, response.status_code, response.text[:200])
            assert response.json()["type"] == "invalid_request"


def test_api_offsets_and_limits_in_other_scripts_fall_back_to_defaults(
    client: TestClient, db: Database, seed: Tenant
) -> None:
    base = f"/api/environments/{seed.project.id}/error_tracking/issues/"
    for query in ("offset=²", "limit=²", f"limit={arabic_indic(1)}", "offset=١"):
        response = client.get(f"{base}?{query}", headers=seed.headers)
        assert response.status_code == 200, (query, response.text[:200])
    # `limit=١` is not a limit of 1: the default applies, as for any unreadable limit.
    with db.write() as session:
        for name in ("two", "three"):
            accounts.create_project(session, seed.organization.id, name)
    assert len(client.get("/api/projects/?limit=1", headers=seed.headers).json()["results"]) == 1
    assert len(client.get(f"/api/projects/?limit={arabic_indic(1)}", headers=seed.headers).json()["results"]) == 3


def test_web_project_ids_and_pages_in_other_scripts(client: TestClient, seed: Tenant) -> None:
    assert login(client, seed.user.email).status_code == 303
    pid = seed.project.id
    assert client.get(f"/project/{pid}/issues").status_code == 200
    for raw in ("²", arabic_indic(pid)):
        response = client.get(f"/project/{quote(raw)}/issues", follow_redirects=False)
        assert response.status_code == 404, (raw, response.status_code)
    for query in ("offset=²", "limit=²", "offset=١"):
        assert client.get(f"/project/{pid}/issues?{query}").status_code == 200, query
    assert client.get(f"/project/{pid}/ingestion?days=²").status_code == 200


def test_sdk_flags_version_in_other_scripts(client: TestClient, seed: Tenant) -> None:
    body = {"token": seed.project.api_token}
    for path in ("/flags/", "/decide/"):
        for raw in ("²", "١"):
            response = client.post(f"{path}?v={quote(raw)}", json=body)
            assert response.status_code == 200, (path, raw, response.status_code)
    # `v=١` is not version 1 spelled differently: it is no version (the legacy answer), like any unreadable value.
    assert "featureFlags" in client.post(f"/flags/?v={quote(arabic_indic(2))}", json=body).json()


@pytest.mark.postgres
def test_ids_beyond_32_bits_are_404_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses to compare an `integer` column with 2³¹ ("integer out of range"): such an id cannot
    exist, so it is a 404 before any query (SQLite quietly found nothing)."""
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        tenant = make_tenant(app.state.db, email="pg-ids@acme.test")
        for raw in (str(2**31), "9999999999", "0"):
            response = client.get(f"/api/environments/{raw}/error_tracking/issues/", headers=tenant.headers)
            assert response.status_code == 404, (raw, response.status_code)
        assignee = client.get(
            f"/api/environments/{tenant.project.id}/error_tracking/issues/?assignee=user:{2**31}",
            headers=tenant.headers,
        )
        assert assignee.status_code == 400, assignee.text
        assert login(client, tenant.user.email).status_code == 303
        assert client.get(f"/project/{2**31}/issues", follow_redirects=False).status_code == 404
