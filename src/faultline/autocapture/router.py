"""REST endpoints: autocapture controls (per SDK library, spec §2.10) and error-tracking settings (§2.11)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Query, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.autocapture import service
from faultline.autocapture.schemas import LIBRARIES, ControlsIn, ControlsOut, SettingsIn, SettingsOut
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.responses import ORJSONResponse
from faultline.http.routing import Router

router = Router(tags=["error tracking autocapture controls and settings"])

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
CONTROLS = "/error_tracking/autocapture_controls/"
SETTINGS = "/error_tracking/settings/"

LibraryParam = Query("web", description="SDK library the controls apply to (only `web` exists today).")


def _library(value: str) -> str:
    if value not in LIBRARIES:
        raise errors.validation_error(f'"{value}" is not a valid choice.', "library", code="invalid_choice")
    return value


def _provided(body: ControlsIn | None) -> dict[str, Any]:
    """Only the fields the client sent (omitted = unchanged / model default)."""
    if body is None:
        return {}
    return {name: getattr(body, name) for name in body.model_fields_set}


@router.get(CONTROLS, response_model=ControlsOut | None, summary="The controls of one SDK library (or null)")
def get_library_controls(
    library: str = LibraryParam,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
) -> Any:
    controls = service.controls_for_library(session, ctx.project_id, _library(library))
    return service.controls_out(controls) if controls is not None else None


@router.post(
    CONTROLS,
    response_model=ControlsOut,
    status_code=201,
    responses={200: {"description": "Controls already existed for this library; returned unchanged."}},
    summary="Create the controls of one SDK library (returns the existing ones if any)",
)
def create_library_controls(
    body: ControlsIn | None = None,
    library: str = LibraryParam,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Any:
    controls, created = service.create_controls(session, ctx.project_id, _library(library), _provided(body))
    payload = ControlsOut.model_validate(service.controls_out(controls)).model_dump(mode="json")
    return payload if created else ORJSONResponse(payload, status_code=200)


@router.delete(CONTROLS + "delete_controls/", status_code=204, summary="Delete a library's controls if they exist")
def delete_library_controls(
    library: str = LibraryParam,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    controls = service.controls_for_library(session, ctx.project_id, _library(library))
    if controls is not None:
        service.delete_controls(session, ctx.project_id, controls.id)
    return Response(status_code=204)


@router.get(CONTROLS + "{controls_id}/", response_model=ControlsOut, summary="Retrieve autocapture controls")
def get_controls(
    controls_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    controls = service.get_controls(session, ctx.project_id, controls_id)
    if controls is None:
        raise errors.not_found()
    return service.controls_out(controls)


def _update_controls(
    controls_id: str,
    body: ControlsIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    controls = service.get_controls(session, ctx.project_id, controls_id)
    if controls is None:
        raise errors.not_found()
    return service.controls_out(service.update_controls(session, controls, _provided(body)))


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        CONTROLS + "{controls_id}/",
        _update_controls,
        methods=[_method],
        response_model=ControlsOut,
        summary="Update autocapture controls",
        name=f"{_method.lower()}_autocapture_controls",
    )


@router.delete(CONTROLS + "{controls_id}/", status_code=204, summary="Delete autocapture controls")
def delete_controls(
    controls_id: str, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION
) -> Response:
    controls = service.get_controls(session, ctx.project_id, controls_id)
    if controls is None:
        raise errors.not_found()
    service.delete_controls(session, ctx.project_id, controls.id)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------------------ settings


def _retrieve_settings(ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> dict[str, Any]:
    return service.get_settings(session, ctx.project_id)


def _update_settings(
    body: SettingsIn | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    values = {name: getattr(body, name) for name in body.model_fields_set} if body is not None else {}
    return service.update_settings(session, ctx.project_id, values)


# PostHog's routes are the `retrieve_settings/` and `update_settings/` actions; the bare resource is an alias.
for _path, _documented in ((SETTINGS + "retrieve_settings/", True), (SETTINGS, False)):
    router.add_api_route(
        _path,
        _retrieve_settings,
        methods=["GET"],
        response_model=SettingsOut,
        summary="Error-tracking settings",
        include_in_schema=_documented,
        name=f"retrieve_settings{'' if _documented else '_alias'}",
    )
for _path, _documented in ((SETTINGS + "update_settings/", True), (SETTINGS, False)):
    router.add_api_route(
        _path,
        _update_settings,
        methods=["PATCH"],
        response_model=SettingsOut,
        summary="Update error-tracking settings (partial)",
        include_in_schema=_documented,
        name=f"update_settings{'' if _documented else '_alias'}",
    )
