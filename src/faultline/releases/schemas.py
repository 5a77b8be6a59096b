"""Request and response bodies of the release API; `ReleaseOut` is also how symbol sets and stack frames show the
release they belong to (one schema per resource)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from faultline.http.errors import FieldError


def _scalar(value: Any) -> Any:
    """Strings and numbers are accepted (PostHog str()s them); anything else is a clear 400 on that field."""
    if value is None or isinstance(value, str | int | float):
        return value
    raise FieldError("Not a valid string.")


Scalar = Annotated[str | int | float, BeforeValidator(_scalar)]


class ReleaseOut(BaseModel):
    id: uuid.UUID
    hash_id: str
    team_id: int
    created_at: dt.datetime
    metadata: Any = None
    version: str
    project: str


class ReleaseIn(BaseModel):
    """PostHog reads these leniently (numbers are turned into strings); all optional on update."""

    model_config = ConfigDict(extra="ignore")

    version: Scalar | None = Field(None, description="Required on create.")
    project: Scalar | None = Field(None, description="Required on create (the release's project name).")
    hash_id: Scalar | None = Field(
        None, description="Stable client-chosen key (≤ 128 characters); defaults to the release id."
    )
    metadata: Any = Field(None, description='Free-form JSON, e.g. {"git": {"commit_id", "remote_url", "branch"}}.')
