"""One error registry: domain services raise `faultline.errors` kinds, `faultline.http.errors.DOMAIN_ERRORS` is the
only place that turns them into PostHog's wire shape, and no handler maps a domain error by hand."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import faultline
from faultline import errors as domain
from faultline.accounts import grants
from faultline.http.errors import install_error_handlers
from faultline.issues import service as issues
from faultline.releases.service import HashInUse
from faultline.symbols import service as symbol_sets

SRC = Path(faultline.__file__).parent


def _answer(error: domain.DomainError) -> tuple[int, dict[str, object]]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    response = TestClient(app).get("/boom")
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            domain.NotFound(),
            404,
            {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None},
        ),
        (
            issues.IssueNotFound(),
            404,
            {"type": "invalid_request", "code": "not_found", "detail": "Issue not found", "attr": None},
        ),
        (
            domain.ValidationFailed("Bad.", "field__nested"),
            400,
            {"type": "validation_error", "code": "invalid_input", "detail": "Bad.", "attr": "field__nested"},
        ),
        (
            issues.InvalidStatus(field=True),
            400,
            {
                "type": "validation_error",
                "code": "invalid_choice",
                "detail": '"status" is not a valid choice.',
                "attr": "status",
            },
        ),
        (
            HashInUse("abc"),
            400,
            {"type": "validation_error", "code": "invalid_input", "detail": "Hash id abc already in use", "attr": None},
        ),
        (
            domain.BadRequest("chunk_id query parameter is required", code="required"),
            400,
            {
                "type": "invalid_request",
                "code": "required",
                "detail": "chunk_id query parameter is required",
                "attr": None,
            },
        ),
        (
            # The UI places the message next to `scoped_teams`; DRF's 403 names no field.
            grants.GrantForbidden("Not yours.", "scoped_teams"),
            403,
            {"type": "authentication_error", "code": "permission_denied", "detail": "Not yours.", "attr": None},
        ),
        (
            grants.GrantError("Invalid organization UUID.", "scoped_organizations"),
            400,
            {
                "type": "validation_error",
                "code": "invalid_input",
                "detail": "Invalid organization UUID.",
                "attr": "scoped_organizations",
            },
        ),
        (
            domain.Unavailable("Could not generate download URL."),
            500,
            {"type": "server_error", "code": "error", "detail": "Could not generate download URL.", "attr": None},
        ),
    ],
)
def test_each_kind_answers_in_posthogs_shape(error: domain.DomainError, status: int, body: dict[str, object]) -> None:
    assert _answer(error) == (status, body)


def test_the_symbols_service_raises_domain_errors_not_http_ones(db) -> None:
    """Before the registry, symbols/service.py raised `APIError`s itself (the web UI then caught HTTP errors)."""
    with db.read() as session, pytest.raises(domain.NotFound):
        symbol_sets.get(session, 1, "not-a-uuid")
    with pytest.raises(domain.BadRequest):
        symbol_sets.check_chunk_id("")
    assert isinstance(symbol_sets.upload_error("file_too_large", "Too large."), domain.ValidationFailed)


def _domain_modules() -> list[str]:
    skip = {"http", "web", "cli", "migrations"}
    return [
        info.name
        for info in pkgutil.walk_packages([str(SRC)], prefix="faultline.")
        if info.name.split(".")[1] not in skip and not info.name.endswith("__main__")
    ]


def _resolve(node: ast.expr, namespace: dict[str, object]) -> object:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def test_no_handler_maps_a_domain_error_by_hand() -> None:
    """`except SomeDomainError: raise errors.validation_error(...)` is the registry's job: let the error through."""
    offenders: list[str] = []
    for name in _domain_modules():
        module = importlib.import_module(name)
        if module.__file__ is None:
            continue
        tree = ast.parse(Path(module.__file__).read_text())
        for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.type is not None):
            caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            kinds = [_resolve(c, vars(module)) for c in caught]
            if not any(isinstance(k, type) and issubclass(k, domain.DomainError) for k in kinds):
                continue
            raises_http = any(
                isinstance(n, ast.Raise)
                and isinstance(n.exc, ast.Call)
                and ast.unparse(n.exc.func).startswith(("errors.", "APIError"))
                for n in ast.walk(handler)
            )
            if raises_http:
                offenders.append(f"{name}:{handler.lineno}")
    assert offenders == []
