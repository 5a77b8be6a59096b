"""The search box as people type it: several words are ANDed, quotes make a phrase, and `user:` / `file:` /
`function:` terms reach the distinct id / e-mail and the frames of every exception in the chain — on SQLite (FTS5
trigram index) and PostgreSQL (pg_trgm), through the REST API the UI also calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.db import Database
from tests.conftest import Tenant, make_settings, make_tenant
from tests.issues.conftest import Api
from tests.support.ingest import exception_event, ingest, python_frame


def _chained(outer: tuple[str, str], inner: tuple[str, str], frames: list[dict], **kwargs: object) -> dict:
    """A two-exception chain; `frames` go on the first exception only."""
    event = exception_event(inner[0], inner[1], frames=frames, **kwargs)  # type: ignore[arg-type]
    event["properties"]["$exception_list"].append(
        {"type": outer[0], "value": outer[1], "mechanism": {"type": "generic", "handled": True}}
    )
    return event


def _seed(db: Database, tenant: Tenant) -> None:
    ingest(
        db,
        tenant.project,
        [
            exception_event(
                "ConnectionError",
                "payment gateway timed out",
                frames=[python_frame("charge_card", filename="shop/payments.py")],
                distinct_id="alice",
            ),
            exception_event(
                "TypeError",
                "gateway for payment missing",  # both words, not the phrase
                frames=[python_frame("render", filename="shop/views.py")],
                distinct_id="bob",
            ),
            _chained(
                ("RuntimeError", "checkout failed"),
                ("TypeError", "cannot add item to cart"),
                frames=[python_frame("add_to_cart", filename="shop/cart.py")],
                distinct_id="carol",
                properties={"$set": {"email": "carol@example.com"}},
            ),
            exception_event("KeyError", "'sku'", distinct_id="dave", properties={"email": "dave@example.com"}),
        ],
    )


def _names(api: Api, search: str) -> list[str]:
    response = api.get("issues/", params={"search": search, "status": "all", "limit": 50})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    return sorted(item["description"] for item in body["results"])


def _check(api: Api) -> None:
    phrase, both, chain, key = (
        "payment gateway timed out",
        "gateway for payment missing",
        "cannot add item to cart",
        "'sku'",
    )
    # Words are ANDed, anywhere in the issue's text.
    assert _names(api, "payment gateway") == sorted([phrase, both])
    assert _names(api, "gateway payment") == sorted([phrase, both])
    assert _names(api, "payment nosuchword") == []
    # Quotes make a phrase.
    assert _names(api, '"payment gateway"') == [phrase]
    assert _names(api, '"gateway payment"') == []
    # Type of one exception + a word of another exception's message (the chain's outer one).
    assert _names(api, "TypeError cart") == [chain]
    assert _names(api, "RuntimeError checkout cart") == [chain]
    assert _names(api, "TypeError checkout") == [chain]
    # Short words (no trigram) still AND correctly.
    assert _names(api, "to cart") == [chain]
    # File and function names of the frames, as plain words and as field terms.
    assert _names(api, "charge_card") == [phrase]
    assert _names(api, "function:add_to") == [chain]
    assert _names(api, "file:payments.py") == [phrase]
    assert _names(api, "file:charge_card") == []  # a function name is not a file name
    assert _names(api, "file:shop/ TypeError") == sorted([both, chain])
    # Users: distinct id exactly, e-mail from `email` or `$set.email`.
    assert _names(api, "user:alice") == [phrase]
    assert _names(api, "user:ali") == []  # ids are exact
    assert _names(api, "user:carol@example.com") == [chain]
    assert _names(api, "email:dave@example.com") == [key]
    assert _names(api, "user:bob gateway") == [both]
    assert _names(api, "user:bob checkout") == []


def test_search_terms_sqlite(api: Api, db: Database, seed: Tenant) -> None:
    _seed(db, seed)
    _check(api)


@pytest.mark.postgres
def test_search_terms_postgres(tmp_path: Path, pg_url: str) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        db = app.state.db
        assert db.dialect == "postgresql"
        tenant = make_tenant(db, email="pg-terms@acme.test")
        _seed(db, tenant)
        _check(Api(client, tenant))
