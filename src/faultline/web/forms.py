"""Form input → the REST API's own pydantic schemas → inline messages next to the offending fields.

Validating UI forms with the very models the API uses means one set of rules and one set of messages; the
conversion reuses the API's pydantic-to-DRF mapping, so a form says exactly what the API would say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from faultline.http.errors import from_validation_errors

M = TypeVar("M", bound=BaseModel)

FORM_ERROR = "form"


def validate(model: type[M], data: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(dict(data)), {}
    except ValidationError as exc:
        messages: dict[str, str] = {}
        for error in exc.errors():
            api_error = from_validation_errors([error])  # type: ignore[list-item]
            messages.setdefault(api_error.attr or FORM_ERROR, api_error.detail)
        return None, messages


def text(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def texts(form: FormData, name: str, limit: int = 200, count: int = 200) -> list[str]:
    return [v[:limit] for v in form.getlist(name)[:count] if isinstance(v, str)]


def checkbox(form: FormData, name: str) -> bool:
    return text(form, name, 10) in ("on", "true", "1", "yes")
