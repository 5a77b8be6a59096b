"""Project pages: the project list/switcher target and the project settings page (token, SDK snippets, autocapture)."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import dsn as dsn_keys
from faultline.accounts import service as accounts
from faultline.autocapture import service as autocapture
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.web import flash, forms, snippets
from faultline.web.deps import ProjectPage, Viewer, csrf_form, project_page, viewer
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)


def project_home(project_id: int) -> str:
    """Where "open this project" lands."""
    return f"/project/{project_id}/issues"


@router.get("/projects/")
def projects_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
    if len(who.projects) == 1:
        return RedirectResponse(project_home(who.projects[0].id), status_code=303)
    return get_templates(request).response(
        request, "projects.html", {"page_title": "Projects", "projects": who.projects, "project_home": project_home}
    )


@router.get("/project/{project_id}/")
def project_index(page: ProjectPage = Depends(project_page)) -> Response:
    return RedirectResponse(project_home(page.project.id), status_code=303)


def _render_settings(
    request: Request, page: ProjectPage, *, name_errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    settings = request.app.state.settings
    context = {
        "page_title": f"Settings · {page.project.name}",
        "project": page.project,
        "nav": "settings",
        "switch_section": "settings",
        "snippets": snippets.for_project(page.project.api_token, settings.public_url),
        "name_errors": name_errors or {},
        "dsn_keys": _dsn_rows(request, page.project.id),
    }
    return get_templates(request).response(request, "project_settings.html", context, status_code=status_code)


def _dsn_rows(request: Request, project_id: int) -> list[dict[str, object]]:
    """The project's Sentry DSN keys with their full DSN (the same service as `/api/projects/{id}/dsn_keys/`)."""
    public_url = request.app.state.settings.public_url
    with get_db(request).read() as session:
        keys = session.execute(dsn_keys.list_stmt(project_id)).scalars().all()
        return [
            {
                "id": key.id,
                "label": key.label or "(no label)",
                "enabled": key.enabled,
                "dsn": dsn_keys.dsn(public_url, key.public_key, project_id),
            }
            for key in keys
        ]


@router.post("/project/{project_id}/settings/dsn")
def create_dsn_key(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    label = forms.text(form, "label", dsn_keys.LABEL_MAX) or ""
    with get_db(request).write() as session:
        dsn_keys.create(session, page.project.id, label=label)
    response = RedirectResponse(f"/project/{page.project.id}/settings#dsn-title", status_code=303)
    flash.add(request, response, "DSN key created.")
    return response


@router.post("/project/{project_id}/settings/dsn/{key_id}/enabled")
def toggle_dsn_key(
    request: Request, key_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_uuid(key_id)
    enabled = forms.checkbox(form, "enabled")
    if parsed is not None:
        with get_db(request).write() as session:
            dsn_keys.update(session, page.project.id, parsed, enabled=enabled)
    response = RedirectResponse(f"/project/{page.project.id}/settings#dsn-title", status_code=303)
    flash.add(request, response, "DSN key enabled." if enabled else "DSN key disabled.")
    return response


@router.get("/project/{project_id}/settings")
def settings_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return _render_settings(request, page)


@router.post("/project/{project_id}/settings/name")
def rename_project(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    name = forms.text(form, "name", 1000)
    try:
        with get_db(request).write() as session:
            accounts.update_project(session, page.project.id, name=name)
    except accounts.AccountError as exc:
        return _render_settings(request, page, name_errors={"name": exc.detail}, status_code=400)
    response = RedirectResponse(f"/project/{page.project.id}/settings", status_code=303)
    flash.add(request, response, "Project renamed.")
    return response


@router.post("/project/{project_id}/settings/autocapture")
def toggle_autocapture(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    enabled = forms.checkbox(form, "autocapture_exceptions_opt_in")
    with get_db(request).write() as session:
        # The settings service bumps the config revision, so remote config served to SDKs changes at once.
        autocapture.update_settings(session, page.project.id, {"autocapture_exceptions_opt_in": enabled})
    response = RedirectResponse(f"/project/{page.project.id}/settings", status_code=303)
    flash.add(request, response, f"Exception autocapture {'enabled' if enabled else 'disabled'} for SDKs.")
    return response
