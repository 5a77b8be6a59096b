"""`key:value` terms in the issue search: parsing, and matching event properties on SQLite and PostgreSQL (the
property is read with JSON_EXTRACT on one and `->>` on the other, so both are exercised)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.db import Database
from faultline.issues.filters import PropertyTerm, TextTerm, parse_search
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.ingest import exception_event, ingest


@pytest.mark.parametrize(
    ("text", "free", "terms"),
    [
        ("$lib:posthog-js", [], [("$lib", "posthog-js")]),
        ("checkout $lib:web", ["checkout"], [("$lib", "web")]),
        ('$browser:"Mobile Safari" timeout', ["timeout"], [("$browser", "Mobile Safari")]),
        ("TypeError: boom", ["TypeError:", "boom"], []),  # a message with a colon stays free text (two words)
        ("see https://shop.example/cart", ["see", "https://shop.example/cart"], []),  # so does a URL
        ('"plan:pro"', ["plan:pro"], []),  # quoted free text is literal
        ('"payment  gateway" cart', ["payment gateway", "cart"], []),  # a quoted phrase is one term
        ("plan:pro plan:pro", [], [("plan", "pro")]),  # duplicates collapse
        ("127.0.0.1:5432 refused", ["127.0.0.1:5432", "refused"], []),  # keys cannot start with a digit
        ("url:*checkout*", [], [("url", "*checkout*")]),
        ('unclosed "quote', ["unclosed", "quote"], []),
    ],
)
def test_parse_search(text: str, free: list[str], terms: list[tuple[str, str]]) -> None:
    parts = parse_search(text)
    assert [t.text for t in parts.terms] == free
    assert parts.properties == tuple(PropertyTerm(k, v) for k, v in terms)


def test_field_and_user_terms() -> None:
    parts = parse_search('file:cart.py function:"add item" user:alice email:bob@example.com TypeError')
    assert parts.terms == (TextTerm("cart.py", "file"), TextTerm("add item", "function"), TextTerm("TypeError"))
    assert parts.users == ("alice", "bob@example.com")
    assert parts.properties == ()


def test_property_terms_are_bounded() -> None:
    parts = parse_search(" ".join(f"k{i}:v" for i in range(25)) + " " + " ".join(f"w{i}" for i in range(25)))
    assert len(parts.properties) == 10
    assert len(parts.terms) == 10


def _seed_events(db: Database, tenant: Tenant) -> None:
    ingest(
        db,
        tenant.project,
        [
            exception_event("TypeError", "cart empty", properties={"$lib": "web", "$browser": "Mobile Safari"}),
            exception_event("ValueError", "bad amount", properties={"plan": 3, "region": "eu-west"}),
            exception_event("KeyError", "sku", properties={"region": "us-east", "checkout_step": "pay"}),
        ],
    )


def _names(api: Api, search: str) -> list[str]:
    response = api.get("issues/", params={"search": search, "status": "all"})
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()["results"])


def _check(api: Api) -> None:
    assert _names(api, "$lib:web") == ["TypeError"]
    assert _names(api, "$lib:posthog-python") == ["KeyError", "ValueError"]
    assert _names(api, '$browser:"Mobile Safari"') == ["TypeError"]
    assert _names(api, "plan:3") == ["ValueError"]  # numbers compare by their text
    assert _names(api, "region:*-west") == ["ValueError"]  # wildcard
    assert _names(api, "region:eu-west amount") == ["ValueError"]  # property term AND free text
    assert _names(api, "region:eu-west sku") == []
    assert _names(api, "region:eu-west region:us-east") == []  # terms are ANDed
    assert _names(api, "nosuch:thing") == []
    assert _names(api, "region:a\x00b") == []  # unstorable values match nothing instead of failing


def test_property_search_sqlite(api: Api, db: Database, seed: Tenant) -> None:
    _seed_events(db, seed)
    _check(api)


@pytest.mark.postgres
def test_property_search_postgres(tmp_path: Path, pg_url: str) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        db = app.state.db
        assert db.dialect == "postgresql"
        tenant = make_tenant(db, email="pg-search@acme.test")
        _seed_events(db, tenant)
        _check(Api(client, tenant))
