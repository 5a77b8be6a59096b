"""Every 4xx speaks PostHog's error shape, including framework-level failures."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from faultline.http.errors import from_validation_errors
from tests.conftest import Tenant


def _shape(response) -> dict:
    body = response.json()
    assert set(body) == {"type", "code", "detail", "attr"}, body
    return body


def test_validation_error_for_missing_field(client: TestClient, seed: Tenant) -> None:
    response = client.post("/api/projects/", headers=seed.headers, json={})
    assert response.status_code == 400
    assert _shape(response) == {
        "type": "validation_error",
        "code": "required",
        "detail": "This field is required.",
        "attr": "name",
    }


def test_validation_error_for_wrong_type(client: TestClient, seed: Tenant) -> None:
    response = client.patch(
        f"/api/environments/{seed.project.id}/", headers=seed.headers, json={"autocapture_exceptions_opt_in": "maybe"}
    )
    assert response.status_code == 400
    assert _shape(response) == {
        "type": "validation_error",
        "code": "invalid_input",
        "detail": "Must be a valid boolean.",
        "attr": "autocapture_exceptions_opt_in",
    }


def test_invalid_code_is_reported_as_invalid_input(client: TestClient, seed: Tenant) -> None:
    response = client.post("/api/projects/", headers=seed.headers, json=["not", "an", "object"])
    assert response.status_code == 400
    assert _shape(response)["code"] == "invalid_input"
    assert _shape(response)["attr"] is None


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b'{"name": "x"', b""])
def test_malformed_json_is_a_parse_error(client: TestClient, seed: Tenant, body: bytes) -> None:
    headers = {**seed.headers, "Content-Type": "application/json"}
    response = client.post("/api/projects/", headers=headers, content=body)
    assert response.status_code == 400
    shape = _shape(response)
    assert shape["type"] in ("invalid_request", "validation_error")
    if body:
        assert shape["code"] == "parse_error" and shape["detail"]


def test_deeply_nested_json_is_400_not_500(client: TestClient, seed: Tenant) -> None:
    body = b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    headers = {**seed.headers, "Content-Type": "application/json"}
    response = client.post("/api/projects/", headers=headers, content=body)
    assert response.status_code == 400
    _shape(response)


def test_unknown_route_and_method(client: TestClient, seed: Tenant) -> None:
    missing = client.get("/api/nothing-here/", headers=seed.headers)
    assert missing.status_code == 404
    assert _shape(missing)["code"] == "not_found"
    delete = client.delete(f"/api/environments/{seed.project.id}/", headers=seed.headers)
    assert delete.status_code == 405
    assert _shape(delete) == {
        "type": "invalid_request",
        "code": "method_not_allowed",
        "detail": 'Method "DELETE" not allowed.',
        "attr": None,
    }


class _Inner(BaseModel):
    threshold: int


class _Outer(BaseModel):
    assignee: _Inner
    items: list[_Inner] = []


def test_nested_attr_uses_double_underscore() -> None:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"assignee": {"threshold": "high"}})
    error = from_validation_errors(info.value.errors())
    assert (error.attr, error.code, error.detail) == (
        "assignee__threshold",
        "invalid_input",
        "A valid integer is required.",
    )
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"assignee": {"threshold": 1}, "items": [{"threshold": 1}, {}]})
    error = from_validation_errors(info.value.errors())
    assert (error.attr, error.code) == ("items__1__threshold", "required")
