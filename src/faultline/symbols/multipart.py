"""Streaming multipart/form-data reader for symbol-set uploads (up to 100 MiB).

Starlette's form parser buffers whole requests and has no per-file cap; here the body is parsed as it arrives, text
fields are small and few, the `file` part goes to a spooled temporary file and reading stops at the first byte past
the limit. A `gate` callback sees the text fields before any file byte is accepted, so a signed upload URL is
verified before a large body is read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import Request

MAX_FIELDS = 64
MAX_FIELD_BYTES = 16 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


class MultipartError(Exception):
    """Why the upload was refused: `code` is the API error code, `status` the HTTP status."""

    def __init__(self, message: str, *, code: str = "invalid_request", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class Upload:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file: IO[bytes] | None = None
        self.size = 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def boundary_of(content_type: str) -> bytes | None:
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


async def read_upload(
    request: Request,
    *,
    max_file_bytes: int,
    gate: Callable[[dict[str, str]], int | None] | None = None,
    file_field: str = "file",
) -> Upload:
    """Parse the request; `gate(fields)` may raise `MultipartError` or return a tighter byte limit for the file."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    if not boundary:
        raise MultipartError(
            "Expected a multipart/form-data body with a boundary.", code="unsupported_media_type", status=415
        )
    upload = Upload()
    state: dict[str, object] = {"name": None, "is_file": False, "buffer": bytearray(), "gated": False}
    header_name = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    limit = {"bytes": max_file_bytes}
    failure: list[MultipartError] = []

    def fail(error: MultipartError) -> None:
        if not failure:
            failure.append(error)

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, params = parse_options_header(headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        state["name"] = name
        state["buffer"] = bytearray()
        state["is_file"] = name == file_field
        if state["is_file"]:
            if upload.file is not None:
                fail(MultipartError(f"More than one '{file_field}' part."))
                return
            if gate is not None and not state["gated"]:
                state["gated"] = True
                try:
                    tighter = gate(dict(upload.fields))
                except MultipartError as exc:
                    fail(exc)
                    return
                if tighter is not None:
                    limit["bytes"] = min(limit["bytes"], tighter)
            upload.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by Upload
        elif len(upload.fields) >= MAX_FIELDS:
            fail(MultipartError("Too many form fields."))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if failure:
            return
        chunk = data[start:end]
        if state["is_file"]:
            assert upload.file is not None
            upload.size += len(chunk)
            if upload.size > limit["bytes"]:
                fail(
                    MultipartError(
                        f"The file is larger than the {limit['bytes']} byte limit.", code="file_too_large", status=400
                    )
                )
                return
            upload.file.write(chunk)
        else:
            buffer = state["buffer"]
            assert isinstance(buffer, bytearray)
            buffer.extend(chunk)
            if len(buffer) > MAX_FIELD_BYTES:
                fail(MultipartError(f"Form field '{state['name']}' is too large."))

    def on_part_end() -> None:
        if failure or state["is_file"] or not state["name"]:
            return
        buffer = state["buffer"]
        assert isinstance(buffer, bytearray)
        upload.fields[str(state["name"])] = buffer.decode("utf-8", errors="replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            parser.write(chunk)
            if failure:
                break
        if not failure:
            parser.finalize()
    except MultipartParseError as exc:
        fail(MultipartError(f"Malformed multipart body: {exc}"))
    if failure:
        upload.close()
        raise failure[0]
    if upload.file is None:
        raise MultipartError(f"No '{file_field}' part in the upload.", code="required")
    upload.file.seek(0)
    return upload


async def read_raw(request: Request, *, max_bytes: int) -> Upload:
    """A body that *is* the file (the legacy non-multipart CLI upload)."""
    upload = Upload()
    upload.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by Upload
    async for chunk in request.stream():
        upload.size += len(chunk)
        if upload.size > max_bytes:
            upload.close()
            raise MultipartError(f"The file is larger than the {max_bytes} byte limit.", code="file_too_large")
        upload.file.write(chunk)
    upload.file.seek(0)
    return upload
