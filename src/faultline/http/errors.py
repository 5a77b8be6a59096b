"""PostHog's error wire format, in one place.

Every 4xx/5xx body is ``{"type", "code", "detail", "attr"}`` exactly as PostHog's DRF exception handler
(drf-exceptions-hog) renders it: ``type`` is one of validation_error / invalid_request / authentication_error /
throttled_error / server_error, ``code`` is the DRF error code (``invalid`` is reported as ``invalid_input``),
``detail`` is the first message and ``attr`` the offending field with nested keys joined by ``__``.

Domain services raise `faultline.errors.DomainError`s; `DOMAIN_ERRORS` below is the one place that says which status
and PostHog `type`/`code` each kind answers with, and the app's exception handler applies it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from faultline import errors as domain

log = logging.getLogger(__name__)

NESTED_SEPARATOR = "__"


class APIError(Exception):
    """Raise from anywhere below the HTTP layer to answer with PostHog's error shape."""

    def __init__(
        self,
        status_code: int,
        *,
        type: str,
        code: str,
        detail: str,
        attr: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.type = type
        self.code = "invalid_input" if code == "invalid" else code
        self.detail = detail
        self.attr = attr
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "code": self.code, "detail": self.detail, "attr": self.attr}
        body.update(self.extra)
        return body


def validation_error(detail: str, attr: str | None = None, code: str = "invalid") -> APIError:
    return APIError(400, type="validation_error", code=code, detail=detail, attr=attr)


def required(attr: str, detail: str = "This field is required.") -> APIError:
    return validation_error(detail, attr, code="required")


def parse_error(detail: str = "Malformed request") -> APIError:
    return APIError(400, type="invalid_request", code="parse_error", detail=detail)


def bad_request(detail: str, code: str = "invalid_request", attr: str | None = None) -> APIError:
    return APIError(400, type="invalid_request", code=code, detail=detail, attr=attr)


def not_found(detail: str = "Not found.") -> APIError:
    return APIError(404, type="invalid_request", code="not_found", detail=detail)


def not_authenticated(detail: str = "Authentication credentials were not provided.") -> APIError:
    return APIError(401, type="authentication_error", code="not_authenticated", detail=detail)


def authentication_failed(detail: str = "Incorrect authentication credentials.") -> APIError:
    return APIError(401, type="authentication_error", code="authentication_failed", detail=detail)


def permission_denied(detail: str = "You do not have permission to perform this action.") -> APIError:
    return APIError(403, type="authentication_error", code="permission_denied", detail=detail)


def method_not_allowed(method: str) -> APIError:
    return APIError(405, type="invalid_request", code="method_not_allowed", detail=f'Method "{method}" not allowed.')


def payload_too_large(detail: str) -> APIError:
    return APIError(413, type="invalid_request", code="payload_too_large", detail=detail)


def unsupported_media_type(detail: str) -> APIError:
    return APIError(415, type="invalid_request", code="unsupported_media_type", detail=detail)


def throttled(wait_seconds: int | None = None) -> APIError:
    detail = "Request was throttled."
    headers: dict[str, str] = {}
    if wait_seconds is not None:
        detail += f" Expected available in {wait_seconds} second{'s' if wait_seconds != 1 else ''}."
        headers["Retry-After"] = str(wait_seconds)
    return APIError(429, type="throttled_error", code="throttled", detail=detail, headers=headers)


@dataclass(frozen=True)
class Answer:
    """How the API answers one kind of domain error: `code` when the error names none; `attr`: whether the field
    is reported (DRF's 403 and 404 never name one, even when the UI uses it to place the message)."""

    status: int
    type: str
    code: str
    attr: bool = True


# Looked up along the error's class hierarchy, so a domain's own subclass (IssueNotFound, HashInUse…) answers like
# the kind it derives from; a class deriving from two kinds answers like the first one in its bases.
DOMAIN_ERRORS: dict[type[domain.DomainError], Answer] = {
    domain.NotFound: Answer(404, "invalid_request", "not_found", attr=False),
    domain.ValidationFailed: Answer(400, "validation_error", "invalid"),
    domain.BadRequest: Answer(400, "invalid_request", "invalid_request"),
    domain.PermissionDenied: Answer(403, "authentication_error", "permission_denied", attr=False),
    domain.Unavailable: Answer(500, "server_error", "error", attr=False),
}
_UNREGISTERED = DOMAIN_ERRORS[domain.ValidationFailed]


def from_domain(error: domain.DomainError) -> APIError:
    """The API answer for a domain error."""
    answer = next((DOMAIN_ERRORS[c] for c in type(error).__mro__ if c in DOMAIN_ERRORS), _UNREGISTERED)
    return APIError(
        answer.status,
        type=answer.type,
        code=error.code or answer.code,
        detail=error.detail,
        attr=error.attr if answer.attr else None,
    )


def domain_response(error: domain.DomainError) -> Response:
    """For endpoints that must commit before refusing (a returned, not raised, domain error)."""
    return error_response(from_domain(error))


def join_attr(parts: Iterable[object]) -> str | None:
    joined = NESTED_SEPARATOR.join(str(p) for p in parts)
    return joined or None


def error_response(error: APIError) -> Response:
    return Response(
        content=orjson.dumps(error.body()),
        status_code=error.status_code,
        media_type="application/json",
        headers=error.headers,
    )


# pydantic error type → (DRF code, message template). Templates may use {ctx_key} from the pydantic error context.
_PYDANTIC_CODES: dict[str, tuple[str, str]] = {
    "missing": ("required", "This field is required."),
    "string_type": ("invalid", "Not a valid string."),
    "string_too_long": ("max_length", "Ensure this field has no more than {max_length} characters."),
    "string_too_short": ("min_length", "Ensure this field has at least {min_length} characters."),
    "int_type": ("invalid", "A valid integer is required."),
    "int_parsing": ("invalid", "A valid integer is required."),
    "int_from_float": ("invalid", "A valid integer is required."),
    "float_type": ("invalid", "A valid number is required."),
    "float_parsing": ("invalid", "A valid number is required."),
    "decimal_parsing": ("invalid", "A valid number is required."),
    "decimal_type": ("invalid", "A valid number is required."),
    "bool_type": ("invalid", "Must be a valid boolean."),
    "bool_parsing": ("invalid", "Must be a valid boolean."),
    "uuid_type": ("invalid", "Must be a valid UUID."),
    "uuid_parsing": ("invalid", "Must be a valid UUID."),
    "datetime_type": ("invalid", "Datetime has wrong format. Use ISO 8601."),
    "datetime_parsing": ("invalid", "Datetime has wrong format. Use ISO 8601."),
    "datetime_from_date_parsing": ("invalid", "Datetime has wrong format. Use ISO 8601."),
    "list_type": ("not_a_list", "Expected a list of items."),
    "dict_type": ("invalid", "Expected a dictionary of items."),
    "model_type": ("invalid", "Invalid data. Expected a dictionary."),
    "model_attributes_type": ("invalid", "Invalid data. Expected a dictionary."),
    "greater_than_equal": ("min_value", "Ensure this value is greater than or equal to {ge}."),
    "greater_than": ("min_value", "Ensure this value is greater than {gt}."),
    "less_than_equal": ("max_value", "Ensure this value is less than or equal to {le}."),
    "less_than": ("max_value", "Ensure this value is less than {lt}."),
    "too_short": ("min_length", "Ensure this field has at least {min_length} elements."),
    "too_long": ("max_length", "Ensure this field has no more than {max_length} elements."),
    "extra_forbidden": ("invalid", "Unexpected field."),
}


def _choice_message(error: Mapping[str, Any]) -> str:
    return f'"{error.get("input")}" is not a valid choice.'


def from_validation_errors(errors: Sequence[Mapping[str, Any]]) -> APIError:
    """Turn FastAPI/pydantic validation errors into the first DRF-shaped error."""
    if not errors:
        return validation_error("Invalid input.")
    error = errors[0]
    kind = str(error.get("type", ""))
    loc = [p for p in error.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
    # pydantic appends validator names (e.g. "function-after[...]", "literal[...]") to union locations.
    loc = [p for p in loc if not (isinstance(p, str) and ("[" in p and p.endswith("]")))]
    attr = join_attr(loc)
    if kind == "json_invalid":
        ctx = error.get("ctx") or {}
        return parse_error(f"JSON parse error - {ctx.get('error', 'invalid JSON')}")
    if kind in ("literal_error", "enum"):
        return validation_error(_choice_message(error), attr, code="invalid_choice")
    if kind in ("value_error", "assertion_error"):
        ctx = error.get("ctx") or {}
        message = str(ctx.get("error") or error.get("msg") or "Invalid value.")
        code = getattr(ctx.get("error"), "code", None) or "invalid"
        return validation_error(message.removeprefix("Value error, "), attr, code=code)
    if kind in _PYDANTIC_CODES:
        code, template = _PYDANTIC_CODES[kind]
        try:
            message = template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            message = template
        if kind in ("model_type", "model_attributes_type", "dict_type") and not loc:
            attr = None
        return validation_error(message, attr, code=code)
    return validation_error(str(error.get("msg") or "Invalid input."), attr)


class FieldError(ValueError):
    """Raise inside a pydantic validator to choose the DRF code reported for the field."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


def install_error_handlers(app: FastAPI) -> None:
    from starlette.requests import ClientDisconnect

    from faultline.http.disconnects import client_disconnected

    app.add_exception_handler(ClientDisconnect, client_disconnected)  # type: ignore[arg-type]

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(domain.DomainError)
    async def _domain_error(_request: Request, exc: domain.DomainError) -> Response:
        return error_response(from_domain(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        return error_response(from_validation_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            error = not_found()
        elif exc.status_code == 405:
            error = method_not_allowed(request.method)
        elif exc.status_code == 400:
            error = parse_error(str(exc.detail))
        elif exc.status_code in (401, 403):
            error = APIError(
                exc.status_code, type="authentication_error", code="permission_denied", detail=str(exc.detail)
            )
        else:
            error = APIError(exc.status_code, type="invalid_request", code="invalid_request", detail=str(exc.detail))
        error.headers.update(exc.headers or {})
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(APIError(500, type="server_error", code="error", detail="A server error occurred."))
