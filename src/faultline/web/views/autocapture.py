"""Exception-autocapture controls for the browser SDK: sample rate, URL triggers and blocklist, event triggers, match.

The form is validated by the REST API's `ControlsIn` and saved by `faultline.autocapture.service`, which bumps the
config revision so posthog-js picks the change up from remote config on its next page load. One regex or event name
per line is how people keep such lists; the API's JSON shape (`[{"url": …, "matching": "regex"}]`) is built here.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.autocapture import service
from faultline.autocapture.schemas import MATCH_TYPES, MAX_TRIGGERS, ControlsIn
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.web import flash, forms
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

LIBRARY = "web"
LIST_FIELDS = ("event_triggers", "url_triggers", "url_blocklist")


def page_url(project_id: int) -> str:
    return f"/project/{project_id}/autocapture"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _form_values(controls: Any) -> dict[str, str]:
    if controls is None:
        return {
            "match_type": "all",
            "sample_rate": "1.00",
            "event_triggers": "",
            "url_triggers": "",
            "url_blocklist": "",
            "flag_key": "",
        }
    data = service.controls_out(controls)
    flag = data["linked_feature_flag"] or {}
    return {
        "match_type": data["match_type"],
        "sample_rate": data["sample_rate"],
        "event_triggers": "\n".join(data["event_triggers"]),
        "url_triggers": "\n".join(entry.get("url", "") for entry in data["url_triggers"]),
        "url_blocklist": "\n".join(entry.get("url", "") for entry in data["url_blocklist"]),
        "flag_key": str(flag.get("key") or ""),
    }


def render(
    request: Request,
    page: ProjectPage,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with get_db(request).read() as session:
        controls = service.controls_for_library(session, page.project.id, LIBRARY)
        settings = service.get_settings(session, page.project.id)
        exists = controls is not None
        shown = values if values is not None else _form_values(controls)
    context = {
        "page_title": f"Autocapture · {page.project.name}",
        "project": page.project,
        "nav": "autocapture",
        "switch_section": "autocapture",
        "values": shown,
        "exists": exists,
        "settings": settings,
        "match_types": MATCH_TYPES,
        "max_triggers": MAX_TRIGGERS,
        "errors": errors or {},
    }
    return get_templates(request).response(request, "autocapture.html", context, status_code=status_code)


@router.get("/project/{project_id}/autocapture")
def autocapture_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return render(request, page)


@router.post("/project/{project_id}/autocapture")
def save_controls(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    values = {
        "match_type": forms.text(form, "match_type", 20),
        "sample_rate": forms.text(form, "sample_rate", 100).strip(),
        "event_triggers": forms.text(form, "event_triggers", 200_000),
        "url_triggers": forms.text(form, "url_triggers", 200_000),
        "url_blocklist": forms.text(form, "url_blocklist", 200_000),
        "flag_key": forms.text(form, "flag_key", 1000).strip(),
    }
    payload: dict[str, Any] = {
        "match_type": values["match_type"],
        "sample_rate": values["sample_rate"] or "1",
        "event_triggers": _lines(values["event_triggers"]),
        "url_triggers": [{"url": line, "matching": "regex"} for line in _lines(values["url_triggers"])],
        "url_blocklist": [{"url": line, "matching": "regex"} for line in _lines(values["url_blocklist"])],
        "linked_feature_flag": {"key": values["flag_key"], "id": None, "variant": None} if values["flag_key"] else None,
    }
    body, errors = forms.validate(ControlsIn, payload)
    if body is None:
        shown = {
            ("flag_key" if k.startswith("linked_feature_flag") else k.split("__", 1)[0]): v for k, v in errors.items()
        }
        return render(request, page, values=values, errors=shown, status_code=400)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    with get_db(request).write() as session:
        controls = service.controls_for_library(session, page.project.id, LIBRARY)
        if controls is None:
            service.create_controls(session, page.project.id, LIBRARY, changes)
        else:
            service.update_controls(session, controls, changes)
    response = RedirectResponse(page_url(page.project.id), status_code=303)
    flash.add(request, response, "Autocapture controls saved. Browsers pick them up on their next page load.")
    return response


@router.post("/project/{project_id}/autocapture/delete")
def delete_controls(
    request: Request, _form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    with get_db(request).write() as session:
        controls = service.controls_for_library(session, page.project.id, LIBRARY)
        if controls is not None:
            service.delete_controls(session, page.project.id, controls.id)
    response = RedirectResponse(page_url(page.project.id), status_code=303)
    flash.add(request, response, "Controls removed: every uncaught exception is captured again.")
    return response


@router.post("/project/{project_id}/autocapture/exceptions")
def toggle_exceptions(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    """The project's exception-autocapture switch, through the settings service (bumps the config revision)."""
    enabled = forms.checkbox(form, "autocapture_exceptions_opt_in")
    with get_db(request).write() as session:
        service.update_settings(session, page.project.id, {"autocapture_exceptions_opt_in": enabled})
    back = forms.text(form, "back", 20)
    target = f"/project/{page.project.id}/settings" if back == "settings" else page_url(page.project.id)
    response = RedirectResponse(target, status_code=303)
    flash.add(request, response, f"Exception autocapture {'enabled' if enabled else 'disabled'} for SDKs.")
    return response
