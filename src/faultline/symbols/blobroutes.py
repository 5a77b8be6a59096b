"""`/_blobs/upload/` and `/_blobs/download/`: the signed URLs local blob storage hands out instead of S3's.

They behave like an S3 presigned POST/GET from the client's side: no API key, just the signed form fields or query
string; uploads are multipart with the fields first and the `file` part last, answered with 204. The signature
is checked before a single file byte is accepted, and the size limit is the one that was signed.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from faultline.http import errors
from faultline.symbols.multipart import MultipartError, read_upload
from faultline.symbols.runtime import runtime_for
from faultline.symbols.storage import MAX_SYMBOL_SET_BYTES, InvalidKey, LocalBlobStorage

router = APIRouter(tags=["blobs"], include_in_schema=False)


def _local(request: Request) -> LocalBlobStorage:
    storage = runtime_for(request.app.state).storage
    if not isinstance(storage, LocalBlobStorage):
        raise errors.not_found()
    return storage


@router.post("/_blobs/upload/")
@router.post("/_blobs/upload")
async def upload_blob(request: Request) -> Response:
    storage = _local(request)

    def gate(fields: dict[str, str]) -> int:
        try:
            _key, max_bytes = storage.verify_upload(fields)
        except (PermissionError, InvalidKey) as exc:
            raise MultipartError(str(exc), code="permission_denied", status=403) from None
        return max_bytes

    try:
        upload = await read_upload(request, max_file_bytes=MAX_SYMBOL_SET_BYTES, gate=gate)
    except MultipartError as exc:
        kind = "authentication_error" if exc.status == 403 else "invalid_request"
        raise errors.APIError(exc.status, type=kind, code=exc.code, detail=exc.message) from None
    try:
        if "signature" not in upload.fields:
            raise errors.permission_denied("Invalid upload signature.")
        key, _ = storage.verify_upload(upload.fields)
        assert upload.file is not None
        await run_in_threadpool(storage.put_file, key, upload.file)
    except (PermissionError, InvalidKey) as exc:
        raise errors.permission_denied(str(exc)) from None
    finally:
        upload.close()
    return Response(status_code=204)


@router.get("/_blobs/download/")
@router.get("/_blobs/download")
def download_blob(
    request: Request,
    key: str = Query(""),
    expires: str = Query(""),
    signature: str = Query(""),
) -> Response:
    storage = _local(request)
    try:
        checked = storage.verify_download(key, expires, signature)
    except (PermissionError, InvalidKey) as exc:
        raise errors.permission_denied(str(exc)) from None
    path = storage.open(checked)
    if path is None:
        raise errors.not_found("The file does not exist.")
    return FileResponse(path, media_type="application/octet-stream", filename=checked.rsplit("/", 1)[-1])
