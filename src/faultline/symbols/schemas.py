"""Request and response bodies of the symbol-set API (PostHog's serializer fields and messages)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.http.errors import FieldError
from faultline.releases.schemas import ReleaseOut
from faultline.symbols.resolver import MAX_REF_BYTES

MAX_SETS_PER_REQUEST = 5000


class SymbolSetOut(BaseModel):
    id: str
    ref: str
    team_id: int
    created_at: dt.datetime
    last_used: dt.datetime | None
    failure_reason: str | None
    has_uploaded_file: bool
    release: ReleaseOut | None


def _chunk_id(value: str) -> str:
    if not value:
        raise FieldError("This field may not be blank.", code="blank")
    if len(value.encode("utf-8")) > MAX_REF_BYTES:
        raise FieldError(f"Ensure this field has no more than {MAX_REF_BYTES} bytes.", code="max_length")
    return value


class SymbolSetUploadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chunk_id: str = Field(..., description="Symbol set reference (chunk id) to upload.")
    release_id: str | None = Field(None, description="Optional release id this symbol set belongs to.")
    content_hash: str | None = Field(
        None, max_length=128, description="SHA-512 hex of the file, used to skip unchanged uploads."
    )
    content_length: int | None = Field(None, ge=0, description="Size of the file in bytes, if known.")

    @field_validator("chunk_id")
    @classmethod
    def _check_chunk(cls, value: str) -> str:
        return _chunk_id(value)


class BulkUploadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol_sets: list[SymbolSetUploadIn] = Field(default_factory=list, max_length=MAX_SETS_PER_REQUEST)
    chunk_ids: list[str] | None = Field(
        None, max_length=MAX_SETS_PER_REQUEST, description="Legacy: chunk ids all bound to `release_id`."
    )
    release_id: str | None = Field(None, description="Release for `chunk_ids` (legacy form).")
    force: bool = Field(False, description="Overwrite symbol sets whose content changed.")
    skip_on_conflict: bool = Field(False, description="Skip symbol sets whose content changed instead of failing.")

    @field_validator("chunk_ids")
    @classmethod
    def _check_chunks(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for item in value:
                _chunk_id(item)
        return value


class PresignedPost(BaseModel):
    url: str
    fields: dict[str, str]


class UploadTarget(BaseModel):
    symbol_set_id: str
    presigned_url: PresignedPost


class BulkStartOut(BaseModel):
    id_map: dict[str, UploadTarget]


class BulkCheckOut(BaseModel):
    chunk_ids_to_upload: list[str]


class BulkFinishIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content_hashes: dict[str, str] | None = Field(
        default_factory=dict, description="Map of symbol set id to the SHA-512 hex of the uploaded file."
    )

    @field_validator("content_hashes")
    @classmethod
    def _bounded(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_SETS_PER_REQUEST:
            raise FieldError(f"Ensure this field has no more than {MAX_SETS_PER_REQUEST} elements.", code="max_length")
        if value is not None:
            for item in value.values():
                if len(item) > 128:
                    raise FieldError("Ensure this field has no more than 128 characters.", code="max_length")
        return value


class FinishUploadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content_hash: str | None = Field(None, max_length=128)


class BulkDeleteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ids: Any = None


class SuccessOut(BaseModel):
    success: bool


class OkOut(BaseModel):
    ok: bool


class DeletedOut(BaseModel):
    deleted: int


class DownloadOut(BaseModel):
    url: str


class StartUploadOut(BaseModel):
    presigned_url: PresignedPost
    symbol_set_id: str


class RepairJobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    symbol_set_id: str | None
    ref: str | None
    since: str | None
    progress: dict[str, Any]
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
